#!/usr/bin/python3
"""TEST STAND-IN, never shipped: a Luna Network HSM appliance's NTLS endpoint, as far as a client
can see it without the proprietary client: a TLS listener on the NTLS port (1792) that presents
the appliance certificate (the hsm_client role fetches and pins it; the NTLS check connects to it).
It speaks no NTLS protocol: every connection is closed after the handshake.

Usage: ntls_standin.py --cert CERT --key KEY [--port 1792]
"""

from __future__ import annotations

import argparse
import socket
import ssl
import threading


def serve(connection: socket.socket, context: ssl.SSLContext) -> None:
    try:
        with context.wrap_socket(connection, server_side=True) as tls:
            tls.settimeout(5)
            tls.recv(1)
    except (OSError, ssl.SSLError):
        pass
    finally:
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--port", type=int, default=1792)
    args = parser.parse_args()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    with socket.create_server(("0.0.0.0", args.port), reuse_port=True) as server:
        while True:
            connection, _ = server.accept()
            threading.Thread(target=serve, args=(connection, context), daemon=True).start()


if __name__ == "__main__":
    main()

"""Image builds of scenarios running side by side are serialised by a file lock."""

import threading
import time

from bizractl.lab import image


def test_build_lock_serialises_holders(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(image, "cache_home", lambda: tmp_path)
    events = []

    def hold(name):
        with image.build_lock("debootstrap-bookworm"):
            events.append(f"{name} in")
            time.sleep(0.2)
            events.append(f"{name} out")

    first = threading.Thread(target=hold, args=("a",))
    first.start()
    time.sleep(0.05)
    second = threading.Thread(target=hold, args=("b",))
    second.start()
    first.join()
    second.join()
    assert events == ["a in", "a out", "b in", "b out"]

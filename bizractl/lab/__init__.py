"""The local lab: lab hosts described by an inventory, run as systemd containers (or VMs).

One mechanism for everything that needs test hosts: `bizractl lab` and the Molecule
scenarios (molecule/shared/create.yml and destroy.yml call ``bizractl lab``).
"""

"""bizractl: the control plane of the bizra.infra Ansible collection."""

__version__ = "0.1.0"

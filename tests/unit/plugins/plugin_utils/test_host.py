import pytest

from plugins.plugin_utils.host import host_kind


@pytest.mark.parametrize(
    ("facts", "kind"),
    [
        ({"virtualization_role": "guest", "virtualization_type": "podman"}, "container"),
        ({"virtualization_role": "guest", "virtualization_type": "container"}, "container"),
        ({"virtualization_role": "guest", "virtualization_type": "kvm"}, "vm"),
        ({"virtualization_role": "host", "virtualization_type": "kvm"}, "metal"),
        ({"virtualization_role": "NA", "virtualization_type": "NA"}, "metal"),
    ],
)
def test_host_kind(facts, kind):
    assert host_kind(facts) == kind


def test_host_kind_needs_the_virtual_facts():
    with pytest.raises(ValueError, match="gather_subset: virtual"):
        host_kind({"distribution": "Debian"})

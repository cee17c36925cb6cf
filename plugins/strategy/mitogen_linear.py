# Mitogen's linear strategy, loaded from the installed `mitogen` package (a dependency of this
# collection): one persistent Python interpreter per host instead of a fresh one per task.
from __future__ import annotations

DOCUMENTATION = r"""
name: mitogen_linear
short_description: Ansible's linear strategy run through Mitogen
description:
  - The C(linear) strategy with Mitogen's connection layer (pip package C(mitogen)), which keeps
    one Python interpreter per host for the whole run and caches modules there.
author: bizra SRE
"""

import os  # noqa: E402 (DOCUMENTATION first, as in every plugin)

import ansible_mitogen.affinity  # noqa: E402
import ansible_mitogen.loaders  # noqa: E402
import ansible_mitogen.strategy  # noqa: E402

# Mitogen pins Ansible's processes to CPUs it picks from the machine's CPU count, whatever
# affinity the run was started with (taskset, a cgroup's cpuset). On a 2-core controller it put
# the top-level process, every worker and every command a task starts on CPU 1, and only its
# multiplexer on CPU 0: runs used one core of two, and a lab VM started by a task left the CPU
# its test lane was pinned to. Placement is left to the kernel and to whoever started the run;
# BIZRA_MITOGEN_AFFINITY=mitogen keeps Mitogen's own (bench/ compares both).
if os.environ.get("BIZRA_MITOGEN_AFFINITY") != "mitogen":
    ansible_mitogen.affinity.policy = ansible_mitogen.affinity.Policy()

Base = ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)


class StrategyModule(ansible_mitogen.strategy.StrategyMixin, Base):
    pass

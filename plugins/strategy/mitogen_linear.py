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

import ansible_mitogen.loaders  # noqa: E402 (DOCUMENTATION first, as in every plugin)
import ansible_mitogen.strategy  # noqa: E402

Base = ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)


class StrategyModule(ansible_mitogen.strategy.StrategyMixin, Base):
    pass

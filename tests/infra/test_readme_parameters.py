"""The README's parameter table covers every parameter of the root template."""

from __future__ import annotations

import re
from pathlib import Path

from stp.cfn_yaml import load_template

ROOT = Path(__file__).resolve().parents[2]


def test_every_root_parameter_has_a_row_in_the_readme_table() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("### Parameters") : readme.index("## Security")]
    first_columns = [line.split("|")[1] for line in table.splitlines() if line.startswith("| `")]
    documented = {name for cell in first_columns for name in re.findall(r"`(\w+)`", cell)}
    declared = set(load_template(ROOT / "template.yaml")["Parameters"])
    assert declared - documented == set()
    assert documented - declared == set()  # no row for a parameter that is gone


def test_every_run_setting_has_a_row_in_the_readme_settings_table() -> None:
    from trading.core.settings import SETTING_HELP
    from trading.service.metadata import METADATA_PREFIX

    readme = (ROOT / "README.md").read_text()
    table = readme[
        readme.index("### Run settings") : readme.index("Entries are sized from **buying power**")
    ]
    first_columns = [line.split("|")[1] for line in table.splitlines() if line.startswith("| `")]
    documented = {key for cell in first_columns for key in re.findall(r"`(stp-[\w-]+)`", cell)}
    keys = {METADATA_PREFIX + name.replace("_", "-") for name in SETTING_HELP}
    assert documented == keys

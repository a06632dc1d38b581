"""``raynn study`` on the command line: the list, and bad input answered in one line with exit 2, before Ray."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from raynn.cli import main
from raynn.study import studies_dir


def test_list_names_every_study(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["study", "--list"]) == 0
    out = capsys.readouterr().out
    for name in ("batch-size", "large-batch", "momentum", "initialization"):
        assert name in out
    assert main(["list"]) == 0
    assert "study:" in capsys.readouterr().out


def test_unknown_study_and_unknown_key_exit_2_in_one_line_before_ray(tmp_path: Path) -> None:
    bad = tmp_path / "typo.yaml"
    doc = yaml.safe_load((studies_dir() / "momentum.yaml").read_text())
    doc["analysis"]["curvature"] = doc["analysis"].pop("curvatures")
    doc["figurs"] = doc.pop("figures")
    bad.write_text(yaml.safe_dump(doc))
    # One interpreter for both cases: each costs an import of torch.
    probe = ("import sys, ray; from raynn.cli import main; codes = [main(['study', 'nosuch']), "
             f"main(['study', {str(bad)!r}])]; print(codes, ray.is_initialized())")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=False)
    assert proc.stdout.strip() == "[2, 2] False", proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2, proc.stderr
    assert lines[0].startswith("raynn: error: study: must be one of ") and "'nosuch'" in lines[0]
    assert lines[1].startswith("raynn: error: study.figurs: is not a known key")

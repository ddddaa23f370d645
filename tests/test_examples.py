"""The shipped example missions: valid for `mc validate` and for standard JSON Schema tools."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from reconciler.manifests.layout import classify
from tests.conftest import EXAMPLES, ROOT, mc

MISSIONS = sorted(p for p in EXAMPLES.iterdir() if (p / "principals.yaml").exists())
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"


def manifests(example: Path) -> dict[str, list[str]]:
    by_kind: dict[str, list[str]] = {}
    for path in sorted(example.rglob("*.yaml")):
        location = classify(path.relative_to(example).as_posix())
        if location is not None:
            by_kind.setdefault(location.kind, []).append(str(path))
    return by_kind


@pytest.mark.parametrize("example", MISSIONS, ids=lambda p: p.name)
def test_example_validates_cleanly(example: Path) -> None:
    result = mc("validate", str(example), "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []


@pytest.mark.parametrize("example", MISSIONS, ids=lambda p: p.name)
def test_check_jsonschema_accepts_every_manifest(example: Path) -> None:
    for kind, files in manifests(example).items():
        schema = ROOT / "schemas" / f"{kind.lower()}.schema.json"
        proc = subprocess.run(
            [str(CHECK_JSONSCHEMA), "--schemafile", str(schema), *files], capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_examples_cover_the_issue() -> None:
    names = {p.name for p in MISSIONS}
    assert {"loan-approval", "code-swarm"} <= names


def _tasks(example: Path) -> list[dict[str, object]]:
    files = manifests(example)["Task"]
    return [yaml.safe_load(Path(f).read_text()) for f in files]


def _agent_command(example: Path, mission: str, task: dict[str, object]) -> list[str]:
    spec = task["spec"]
    assert isinstance(spec, dict)
    agents = [yaml.safe_load(Path(f).read_text()) for f in manifests(example)["Agent"]]
    ref = spec["agent"]
    for agent in agents:
        labels = agent["metadata"].get("labels", {})
        if ref.get("name") == agent["metadata"]["name"] or (
            "selector" in ref and all(labels.get(k) == v for k, v in ref["selector"]["matchLabels"].items())
        ):
            return list(agent["spec"]["runtime"]["command"])
    raise AssertionError(f"no agent for {task['metadata']}")


def _order(tasks: list[dict[str, object]]) -> list[dict[str, object]]:
    done: list[dict[str, object]] = []
    names: set[str] = set()
    while len(done) < len(tasks):
        for t in tasks:
            spec, meta = t["spec"], t["metadata"]
            assert isinstance(spec, dict)
            assert isinstance(meta, dict)
            if meta["name"] not in names and set(spec.get("needs", [])) <= names:
                done.append(t)
                names.add(meta["name"])
    return done


@pytest.mark.parametrize("example", MISSIONS, ids=lambda p: p.name)
def test_agent_scripts_run_offline_and_satisfy_their_output_schemas(example: Path, tmp_path: Path) -> None:
    work = tmp_path / example.name
    shutil.copytree(example, work)
    mission = next((work / "missions").iterdir()).name
    for task in _order(_tasks(work)):
        spec, meta = task["spec"], task["metadata"]
        assert isinstance(spec, dict)
        assert isinstance(meta, dict)
        out = tmp_path / f"{meta['name']}.json"
        env = {
            "PATH": os.environ["PATH"],
            "MC_MISSION": mission,
            "MC_TASK": str(meta["name"]),
            "MC_AGENT_ID": "test-00000000",
            "MC_LEASE_GENERATION": "1",
            "MC_INPUTS": json.dumps(spec.get("inputs", {})),
            "MC_OUTPUTS": str(out),
            "LOAN_POST_OFFICE": str(tmp_path / "post-office"),
        }
        proc = subprocess.run(
            _agent_command(work, mission, task), cwd=work, env=env, capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, f"{meta['name']}: {proc.stdout}{proc.stderr}"
        if "outputs" in spec:
            jsonschema.validate(json.loads(out.read_text()), spec["outputs"]["schema"])

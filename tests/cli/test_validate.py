"""`mc validate`: every check, with file, line, column, field and reason; exit codes 0, 1, 2."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pygit2
import pytest

from tests.conftest import findings, git, mc, write


def messages(root: Path) -> list[str]:
    return [f"{f['file']}:{f['line']}:{f['column']} {f['field']}: {f['message']}" for f in findings(str(root))]


def test_fresh_repository_is_valid(repo: Path) -> None:
    result = mc("validate", str(repo))
    assert result.exit_code == 0, result.output
    assert "0 errors" in result.stderr


def test_unknown_field_names_line_column_and_suggests(repo: Path) -> None:
    path = repo / "missions/m/tasks/hello.yaml"
    path.write_text(path.read_text().replace("  title: Say hello", "  tilte: Say hello"))
    found = findings(str(repo))
    assert {(f["field"], f["line"], f["column"]) for f in found} >= {("spec.tilte", 6, 3), ("spec.title", 5, 1)}
    assert any("did you mean 'title'?" in f["message"] for f in found)
    assert any("missing required field 'title'" in f["message"] for f in found)


def test_wrong_type_and_enum_and_name(repo: Path, add_task: Callable[..., Path]) -> None:
    add_task(
        "bad",
        text="""\
        apiVersion: missioncontrol.dev/v1
        kind: Task
        metadata: {name: Bad_Name}
        spec:
          title: t
          kluster: main
          agent: {name: worker}
          priority: high
        """,
    )
    out = "\n".join(messages(repo))
    assert "metadata.name: 'Bad_Name' is not a DNS label" in out
    assert "spec.priority: must be integer, not a string" in out


def test_wrong_kind_for_directory(repo: Path) -> None:
    write(
        repo,
        "missions/m/tasks/agent.yaml",
        """\
        apiVersion: missioncontrol.dev/v1
        kind: Agent
        metadata: {name: other}
        spec: {runtime: {command: [x]}}
        """,
    )
    assert any("kind: must be 'Task', not 'Agent'" in m for m in messages(repo))


def test_agent_ref_needs_exactly_one(repo: Path, add_task: Callable[..., Path]) -> None:
    add_task(
        "t",
        text="""\
        apiVersion: missioncontrol.dev/v1
        kind: Task
        metadata: {name: t}
        spec:
          title: t
          kluster: main
          agent: {name: worker, selector: {matchLabels: {role: worker}}}
        """,
    )
    assert any("spec.agent: set exactly one of: name, selector" in m for m in messages(repo))


def test_duplicate_names_point_at_the_first(repo: Path, add_task: Callable[..., Path]) -> None:
    add_task("zz-copy", text=(repo / "missions/m/tasks/hello.yaml").read_text())
    out = messages(repo)
    assert any(
        "zz-copy.yaml:4:9 metadata.name: duplicate Task name 'hello'; already defined in missions/m/tasks/hello.yaml:4"
        in m
        for m in out
    ), out


def test_references_must_resolve(repo: Path, add_task: Callable[..., Path]) -> None:
    add_task(
        "t",
        text="""\
        apiVersion: missioncontrol.dev/v1
        kind: Task
        metadata: {name: t}
        spec:
          title: t
          kluster: nope
          needs: [ghost]
          agent: {name: nobody}
          approval: {policy: missing}
        """,
    )
    out = "\n".join(messages(repo))
    assert "t.yaml:6:12 spec.kluster: unknown kluster 'nope' in mission 'm'" in out
    assert "t.yaml:7:11 spec.needs[0]: unknown task 'ghost' in mission 'm'" in out
    assert "spec.agent.name: unknown agent 'nobody'" in out
    assert "spec.approval.policy: unknown policy 'missing'" in out


def test_selector_must_match_an_agent(repo: Path, add_task: Callable[..., Path]) -> None:
    add_task(
        "t",
        text="""\
        apiVersion: missioncontrol.dev/v1
        kind: Task
        metadata: {name: t}
        spec:
          title: t
          kluster: main
          agent: {selector: {matchLabels: {role: pilot}}}
        """,
    )
    assert any("spec.agent.selector: no agent in mission 'm' has the labels role=pilot" in m for m in messages(repo))


def test_dependency_cycle_is_printed_once(repo: Path, add_task: Callable[..., Path]) -> None:
    add_task("a", ["b"])
    add_task("b", ["c"])
    add_task("c", ["a"])
    cycles = [m for m in messages(repo) if "cycle" in m]
    assert len(cycles) == 1
    assert "dependency cycle: a -> b -> c -> a" in cycles[0]


def test_self_dependency(repo: Path, add_task: Callable[..., Path]) -> None:
    add_task("a", ["a"])
    assert any("cannot need itself" in m for m in messages(repo))


@pytest.mark.parametrize(
    ("glob", "reason"),
    [
        ("/abs/**", "relative"),
        ("src/**x", "whole path segment"),
        ("a/[bc", "unclosed"),
        ("a//b", "empty path segment"),
        ("../x", "'..'"),
        ("dir/", "dir/**"),
    ],
)
def test_invalid_globs(repo: Path, glob: str, reason: str) -> None:
    path = repo / "missions/m/tasks/hello.yaml"
    path.write_text(path.read_text().replace('paths: ["notes/m/**"]', f"paths: [{json.dumps(glob)}]"))
    out = [m for m in messages(repo) if "invalid glob" in m]
    assert len(out) == 1
    assert reason in out[0]
    assert "spec.paths[0]" in out[0]


def test_output_schema_must_be_a_schema(repo: Path) -> None:
    path = repo / "missions/m/tasks/hello.yaml"
    path.write_text(path.read_text() + "  outputs:\n    schema:\n      type: objekt\n")
    assert any("spec.outputs.schema.type: not a valid JSON Schema" in m for m in messages(repo))


def test_principals_references(repo: Path) -> None:
    write(
        repo,
        "missions/m/policies/p.yaml",
        """\
        apiVersion: missioncontrol.dev/v1
        kind: Policy
        metadata: {name: p}
        spec:
          version: 1
          state: active
          rules:
            - name: r
              action: publish
              match: {tasks: [hello, nope]}
              require: {approvals: 3, principals: [alice, zed], groups: [nobody]}
        """,
    )
    out = "\n".join(messages(repo))
    assert "spec.rules[0].match.tasks[1]: unknown task 'nope'" in out
    assert "spec.rules[0].require.principals[1]: unknown principal 'zed'" in out
    assert "spec.rules[0].require.groups[0]: unknown group 'nobody'" in out
    assert "spec.rules[0].require.approvals: needs 3 approvals but only 2 principals can approve" in out


def test_mission_owner_and_directory_name(repo: Path) -> None:
    path = repo / "missions/m/mission.yaml"
    path.write_text(path.read_text().replace("name: m", "name: other").replace("[alice]", "[alice, zed]"))
    out = "\n".join(messages(repo))
    assert "mission name 'other' must equal its directory name 'm'" in out


def test_missing_principals_and_mission_file(repo: Path) -> None:
    (repo / "principals.yaml").unlink()
    (repo / "missions/m/mission.yaml").unlink()
    out = "\n".join(messages(repo))
    assert "missing principals.yaml" in out
    assert "missions/m:0:0 : mission directory has no mission.yaml" in out


def test_stray_yaml_is_a_warning_not_an_error(repo: Path) -> None:
    write(repo, "missions/m/task/typo.yaml", "a: 1\n")
    write(repo, "missions/m/notes.yaml", "a: 1\n")
    result = mc("validate", str(repo))
    assert result.exit_code == 0
    assert "notes.yaml" in result.stdout
    assert "warning" in result.stdout


def test_invalid_manifest_is_not_reported_as_unknown_elsewhere(repo: Path, add_task: Callable[..., Path]) -> None:
    add_task("dep", text="apiVersion: missioncontrol.dev/v1\nkind: Task\nmetadata: {name: dep}\nspec: {title: 5}\n")
    add_task("user", ["dep"])
    out = messages(repo)
    assert not any("unknown task 'dep'" in m for m in out)
    assert any("dep.yaml" in m for m in out)


@pytest.mark.parametrize(
    ("content", "expect"),
    [
        (b"apiVersion: x\n\xff\xfe", "not valid UTF-8"),
        (b"kind: Task\nspec:\n\ttitle: x\n", "tab"),
        (b"kind: Task\nkind: Agent\n", "duplicate key"),
        (b"a: &a [1]\nb: *a\n", "anchors are not allowed"),
        (b"a: " + b"[" * 10_000 + b"]" * 10_000, "levels deep"),
        (b"a: '" + b"x" * (3 << 20) + b"'\n", "over the"),
        (b"- just\n- a list\n", "got a list"),
        (b"just a string\n", "got a scalar"),
        (b"a: 1\n---\nb: 2\n", "more than one YAML document"),
        (b"", "empty file"),
    ],
)
def test_hostile_files_through_the_cli(repo: Path, content: bytes, expect: str) -> None:
    (repo / "missions/m/tasks/evil.yaml").write_bytes(content)
    result = mc("validate", str(repo), "-o", "json")
    assert result.exit_code == 1, result.output
    found = [f for f in json.loads(result.stdout) if f["file"].endswith("evil.yaml")]
    assert any(expect in f["message"] for f in found), found
    assert all(f["line"] >= 1 for f in found)


def test_text_output_is_file_line_column(repo: Path, add_task: Callable[..., Path]) -> None:
    add_task("a", ["ghost"])
    result = mc("validate", str(repo))
    assert result.exit_code == 1
    line = next(x for x in result.stdout.splitlines() if "ghost" in x)
    assert line.startswith(f"{repo}/missions/m/tasks/a.yaml:10:11: error: spec.needs[0]: unknown task 'ghost'")


def test_github_annotations(repo: Path, add_task: Callable[..., Path]) -> None:
    add_task("a", ["ghost"])
    result = mc("validate", str(repo), "-o", "github")
    assert result.exit_code == 1
    assert (
        f"::error file={repo}/missions/m/tasks/a.yaml,line=10,col=11,title=mc validate%3A reference::"
        "spec.needs[0]: unknown task 'ghost'" in result.stdout
    )


def test_usage_errors_exit_2(tmp_path: Path, repo: Path) -> None:
    assert mc("validate", str(tmp_path / "nope")).exit_code == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    result = mc("validate", str(empty))
    assert result.exit_code == 2
    assert "not a mission repository" in result.stderr
    assert mc("validate", str(repo), "--rev", "no-such-branch").exit_code == 2
    assert mc("validate", str(empty), "--rev", "HEAD").exit_code == 2
    assert mc("validate", str(repo), "-o", "xml").exit_code == 2


def test_rev_reads_the_commit_not_the_files(repo: Path, add_task: Callable[..., Path]) -> None:
    add_task("a", ["ghost"])  # uncommitted breakage
    assert mc("validate", str(repo)).exit_code == 1
    assert mc("validate", str(repo), "--rev", "HEAD").exit_code == 0
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "break"], check=True
    )
    assert mc("validate", str(repo), "--rev", "HEAD").exit_code == 1
    assert mc("validate", str(repo), "--rev", "HEAD~1").exit_code == 0


def test_rev_of_a_subdirectory_of_a_bigger_repository(tmp_path: Path) -> None:
    outer = tmp_path / "outer"
    pygit2.init_repository(str(outer), initial_head="main")
    mc("init", str(outer / "inner"), "--mission", "m")
    subprocess.run(["git", "-C", str(outer), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(outer), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"], check=True
    )
    result = mc("validate", str(outer / "inner"), "--rev", "HEAD")
    assert result.exit_code == 0, result.output
    assert "5 manifests" in result.stderr


def test_each_missing_field_is_reported_once(repo: Path) -> None:
    write(repo, "missions/m/tasks/bare.yaml", "kind: Task\n")
    out = [m for m in messages(repo) if "bare.yaml" in m]
    assert sorted(out) == sorted(set(out))
    assert sum("missing required field" in m for m in out) == 3  # apiVersion, metadata, spec


def test_a_file_broken_before_its_name_is_read_is_not_reported_unknown_elsewhere(
    repo: Path, add_task: Callable[..., Path]
) -> None:
    add_task("dep", text="apiVersion: missioncontrol.dev/v1\nkind: Task\nmetadata: {name: dep\nspec: [\n")
    add_task("user", ["dep"])
    out = messages(repo)
    assert not any("unknown task 'dep'" in m for m in out), out
    assert [m for m in out if "dep.yaml" in m]  # reported once, at the cause


def test_a_duplicate_name_is_reported_on_the_file_a_change_adds(repo: Path, add_task: Callable[..., Path]) -> None:
    body = "apiVersion: missioncontrol.dev/v1\nkind: Task\nmetadata: {{name: {name}}}\nspec: {{title: t, kluster: main, agent: {{name: worker}}}}\n"
    add_task("zz-old", text=body.format(name="shared"))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "old")
    add_task("aa-new", text=body.format(name="shared"))
    without = [f["file"] for f in findings(str(repo)) if "duplicate Task name" in f["message"]]
    assert [Path(f).name for f in without] == ["zz-old.yaml"]  # no base: all but the first by path
    with_base = [f for f in findings(str(repo), "--base", "HEAD") if "duplicate Task name" in f["message"]]
    assert [Path(f["file"]).name for f in with_base] == ["aa-new.yaml"]
    assert "already defined in missions/m/tasks/zz-old.yaml" in with_base[0]["message"]


def test_validate_takes_dash_c_like_every_command(repo: Path) -> None:
    result = mc("validate", "-C", str(repo))
    assert result.exit_code == 0, result.output
    assert "5 manifests checked" in result.stderr


@pytest.mark.parametrize("directory", ["Bad_Dir", "_system"])
def test_a_mission_directory_that_is_not_a_dns_label_is_refused_and_not_reconciled(repo: Path, directory: str) -> None:
    text = (repo / "missions/m/tasks/hello.yaml").read_text().replace("name: hello", "name: reconciler")
    write(repo, f"missions/{directory}/tasks/reconciler.yaml", text)
    out = messages(repo)
    assert any(f"mission directory '{directory}' is not a DNS label" in m for m in out), out
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "bad")
    assert mc("reconcile", "-C", str(repo)).exit_code == 0
    tree = pygit2.Repository(str(repo)).revparse_single("refs/mc/status").peel(pygit2.Tree)
    assert directory not in tree  # never reconciled, so never claimable under a ref name it chose

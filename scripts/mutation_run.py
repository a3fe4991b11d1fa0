"""Mutation testing of the critical Python modules with mutmut (run through scripts/mutation).

Each group of modules that share their fast unit tests is mutated in a throw-away copy of the
committed tree (git archive HEAD: mutmut writes a mutants/ folder beside the code it mutates;
the shared working tree must not get one, and other helpers' edits in progress must not change
the code or the tests mid-run: commit a test before measuring it). Only
the group's unit tests run (tests/unit/...), with at most 2 workers, each group bounded in
time. Survivors listed in scripts/mutation_equivalent.toml (matched by module, function and
the mutated line, not by mutmut's numbering, which shifts when the code changes) are reported
as equivalent and leave the score.

score = (killed + timeout) / (tried - equivalent); a timeout is a mutant the tests stopped (an
endless loop), "no tests" (no unit test reaches the function) counts as survived.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mutation_contracts  # scripts/ is not a package: found beside this file

REPO = Path(__file__).resolve().parents[1]
EQUIVALENT_FILE = REPO / "scripts" / "mutation_equivalent.toml"
TARGET = 0.90
WORKERS = 2
#: Copied into the workspace (mutmut copies source_paths and tests/ from there into mutants/).
COPIED = ("api", "ledger", "metering", "tests", "pyproject.toml")
#: Linked into mutants/ so code that finds the checkout from its own path (ledger.paths) works.
LINKED = ("contracts", "migrations", "node_modules", "scripts", "foundry.toml", ".cache")


@dataclass(frozen=True)
class Group:
    """Modules mutated together because the same fast unit tests cover them."""

    name: str
    modules: tuple[str, ...]
    tests: tuple[str, ...]
    timeout_s: int
    #: Tests left out of the mutation run: timing assertions (a loaded machine's verdict,
    #: not a mutant's; mutmut stops when its clean run fails).
    deselect: tuple[str, ...] = ()


#: The Hypothesis profile of the mutation copy only: each mutant reruns the property tests,
#: so fewer examples, and the same ones every run (a clean run and a mutant's must test alike).
MUTATION_PROFILE = """
settings.register_profile(
    "mutation", max_examples=25, deadline=None, derandomize=True, database=None,
    suppress_health_check=list(HealthCheck),
)
settings.load_profile("mutation")
"""


SETTLEMENT = ("clearing", "netting", "period", "book")
#: The meter formats' tests (both modules: the reading's and the period's tests import each other's
#: helpers, and the audit reads the period batches).
METERING_TESTS = (
    "tests/unit/metering/test_meter_reading.py",
    "tests/unit/metering/test_meter_period.py",
    "tests/unit/metering/test_meter_p1.py",
    "tests/unit/metering/test_meter_agent_periods.py",
    "tests/unit/metering/test_meter_period_mutants.py",
    "tests/unit/metering/test_meter_reading_mutants.py",
    # The reading's eth_abi reference hash and the committed format vectors.
    "tests/unit/api/test_intake_fast_paths.py",
    "tests/unit/test_format_vectors.py",
    "tests/unit/audit",
)
AUDIT = ("settlement", "postings", "batches", "money", "timeline")
#: A check of the test sources (every problem kind planted by some audit test), not of the
#: code: no mutant changes its verdict, and when it fails (4b81a91's five version kinds are
#: planted in tests/unit/dso) it stops every group's clean run.
SOURCES_CHECK = (
    "tests/unit/audit/test_audit_honest.py::test_every_problem_kind_is_planted_by_some_test",
)
GROUPS = (
    Group(
        "audit",
        tuple(f"ledger/audit/{m}.py" for m in AUDIT),
        ("tests/unit/audit",),
        # postings + batches alone took ~50 min on 2 workers of a loaded machine.
        5400,
        SOURCES_CHECK,
    ),
    Group(
        "ledger",
        ("ledger/schedules.py", "ledger/signatures.py"),
        ("tests/unit/ledger", "tests/unit/audit"),
        1800,
        SOURCES_CHECK,
    ),
    # The meter's two formats, one group each: together (803 mutants) they outran one
    # 1800 s limit on a loaded machine and left a third unchecked; apart, each is bounded.
    Group(
        "metering-period",
        ("metering/period.py",),
        METERING_TESTS,
        2700,
        SOURCES_CHECK,
    ),
    Group(
        "metering-reading",
        ("metering/reading.py",),
        METERING_TESTS,
        2700,
        SOURCES_CHECK,
    ),
    # The readings and schedule intake's rules: their chain-free unit tests (tests/api checks
    # the same rules end to end against Anvil, at ~1 min of node and deployment per run:
    # too slow per mutant). The period, gate, membership and escrow reads need the chain.
    Group(
        "intake",
        ("api/readings/service.py", "api/schedules/service.py"),
        ("tests/unit/intake", "tests/unit/api/test_intake_fast_paths.py"),
        1800,
    ),
    # The byte layouts: their own example tests (the property tests reach the codec only
    # through whole settlements, at 30 s a test).
    Group(
        "codec",
        ("api/settlement/codec.py",),
        (
            "tests/unit/settlement/test_settlement_codec.py",
            "tests/unit/settlement/test_settlement_codec_mutants.py",
            "tests/unit/settlement/test_settlement_examples.py",
        ),
        1200,
    ),
    Group(
        "settlement",
        tuple(f"api/settlement/{m}.py" for m in SETTLEMENT),
        ("tests/unit/settlement",),
        2400,
    ),
)
#: The CI subset when no critical module changed: one small module (a few minutes on 2 cores).
CI_MODULES = ("ledger/signatures.py",)
#: --ci's share of the CI time (issue 17: the whole CI is ~40 of its 90 min). A group still
#: running when it is spent stops there; its modules are scored on the mutants checked so far
#: and reported as partial, never silently.
CI_BUDGET_S = 600


def module_id(path: str) -> str:
    """'api/settlement/clearing.py' -> 'mutation.api.settlement.clearing' (stable)."""
    return "mutation." + path.removesuffix(".py").replace("/", ".")


def changed_modules(base: str) -> set[str]:
    """The critical modules the commits since `base` changed (HEAD, not the working tree:
    in a shared checkout another helper's edit in progress is not this change)."""
    done = subprocess.run(
        ["git", "diff", "--name-only", base, "HEAD", "--"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"mutation: git diff against {base!r} failed: {done.stderr.strip()}")
    critical = {path for group in GROUPS for path in group.modules}
    return critical & set(done.stdout.split())


def module_of_id(text: str) -> str:
    """Accepts an id ('mutation.api.settlement.clearing'), a dotted or a file path."""
    for group in GROUPS:
        for path in group.modules:
            dotted = path.removesuffix(".py").replace("/", ".")
            if text in (path, dotted, module_id(path)):
                return path
    raise SystemExit(f"mutation: unknown module {text!r} (see scripts/mutation --list)")


@dataclass
class ModuleResult:
    """One module's outcome; `survivors` carries the diffs of the mutants no test killed."""

    path: str
    counts: Counter[str] = field(default_factory=Counter)
    survivors: list[dict[str, str]] = field(default_factory=list)
    equivalent: list[dict[str, str]] = field(default_factory=list)
    error: str | None = None
    #: The time budget ended the run: scored on the mutants checked before it did.
    partial: bool = False

    @property
    def tried(self) -> int:
        return sum(self.counts.values()) - self.counts["not checked"]

    @property
    def score(self) -> float | None:
        denominator = self.tried - len(self.equivalent)
        if denominator <= 0:
            return None
        return (self.counts["killed"] + self.counts["timeout"]) / denominator

    def as_json(self) -> dict[str, Any]:
        return {
            "id": module_id(self.path),
            "module": self.path,
            "tried": self.tried,
            "killed": self.counts["killed"],
            "survived": len(self.survivors),
            "timeout": self.counts["timeout"],
            "no_tests": self.counts["no tests"],
            "not_checked": self.counts["not checked"],
            "equivalent": len(self.equivalent),
            "score": None if self.score is None else round(self.score, 4),
            "passes": self.passes,
            "partial": self.partial,
            "error": self.error,
            "survivors": self.survivors,
            "equivalents": self.equivalent,
        }

    @property
    def passes(self) -> bool:
        return self.error is None and self.score is not None and self.score >= TARGET


def load_equivalents() -> list[dict[str, str]]:
    if not EQUIVALENT_FILE.is_file():
        return []
    data = tomllib.loads(EQUIVALENT_FILE.read_text())
    entries: list[dict[str, str]] = data.get("equivalent", [])
    return entries


def changed_lines(diff: str) -> tuple[str, str]:
    """The removed and the added lines of a mutant's diff, whitespace-normalised."""
    lines = diff.splitlines()
    removed = [ln[1:].strip() for ln in lines if ln.startswith("-") and not ln.startswith("---")]
    added = [ln[1:].strip() for ln in lines if ln.startswith("+") and not ln.startswith("+++")]
    return " | ".join(removed), " | ".join(added)


def function_of(mutant_name: str) -> str:
    """'a.b.x_clear__mutmut_3' -> 'clear'; 'a.b.xǁBookǁadd__mutmut_1' -> 'Book.add'."""
    mangled = mutant_name.rpartition("__mutmut_")[0].rpartition(".")[2]
    if mangled.startswith("xǁ"):
        return mangled.removeprefix("xǁ").replace("ǁ", ".")
    return mangled.removeprefix("x_")


def is_equivalent(path: str, survivor: dict[str, str], entries: list[dict[str, str]]) -> str | None:
    for entry in entries:
        if entry["module"] != path or entry["function"] != survivor["function"]:
            continue
        if (entry["original"], entry["mutant"]) == (survivor["original"], survivor["mutant"]):
            return entry["reason"]
    return None


def prepare_workspace(root: Path, group: Group, modules: tuple[str, ...]) -> None:
    # What is committed (HEAD): the shared working tree may hold another helper's edit in
    # progress (a broken import there would fail every mutant's clean run).
    archive = subprocess.run(
        ["git", "archive", "HEAD", *COPIED], cwd=REPO, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
    with (root / "tests" / "conftest.py").open("a") as handle:
        handle.write(MUTATION_PROFILE)
    mutants = root / "mutants"
    mutants.mkdir()
    for name in LINKED:
        if (REPO / name).exists():
            (mutants / name).symlink_to(REPO / name)
    # Tests that read ../shared (next to the checkout) find it next to mutants/ as well.
    if (REPO.parent / "shared").exists():
        (root / "shared").symlink_to(REPO.parent / "shared")
    config = {
        "source_paths": ["api", "ledger", "metering"],
        "only_mutate": list(modules),
        "pytest_add_cli_args_test_selection": list(group.tests),
        "pytest_add_cli_args": ["-p", "no:cacheprovider"]
        + [f"--deselect={test}" for test in group.deselect],
        "use_git_change_detection": False,
        "use_setproctitle": False,
        # mutmut's default (15x the covering tests' time, doubled) lets one looping mutant
        # hold a worker for half an hour under a loaded machine; 3x is ample for a kill.
        "timeout_multiplier": 3.0,
        # The limit is CPU seconds: (covering tests' clean time + this) x 3 x 2. A surviving
        # mutant runs every covering test to the end (a killed one stops at the first
        # failure), and the audit's ~40 s of tests outran the bare 3x limit: all 45 of
        # ledger.audit.settlement's survivors came out as "timeout" (session 6) and counted
        # as killed. With 30 s more a survivor finishes; a loop still stops within minutes.
        "timeout_constant": 30.0,
    }
    lines = ["", "[tool.mutmut]"] + [f"{k} = {json.dumps(v)}" for k, v in config.items()]
    with (root / "pyproject.toml").open("a") as handle:
        handle.write("\n".join(lines) + "\n")


def run_group(
    group: Group,
    modules: tuple[str, ...],
    verbose: bool,
    keep: bool,
    budget_s: float | None = None,
    workers: int = WORKERS,
) -> list[ModuleResult]:
    root = Path(tempfile.mkdtemp(prefix=f"quartier-mutation-{group.name}-"))
    results = [ModuleResult(path) for path in modules]
    try:
        prepare_workspace(root, group, modules)
        mutmut = Path(sys.executable).with_name("mutmut")
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        env.pop("CI", None)  # the skip policy's CI failure is not a mutant's kill
        log = root / "mutmut.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                [str(mutmut), "run", "--max-children", str(workers)],
                cwd=root,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            limit = group.timeout_s if budget_s is None else min(group.timeout_s, budget_s)
            try:
                process.wait(timeout=max(limit, 1))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait()
                for result in results:
                    if budget_s is not None and limit == budget_s:
                        result.partial = True
                    else:
                        result.error = f"time limit of {group.timeout_s} s reached"
        if verbose:
            sys.stderr.write(log.read_text()[-4000:])
        stopped = results[0].error or results[0].partial
        if process.returncode not in (0, None) and not stopped:
            tail = log.read_text()[-1500:]
            for result in results:
                result.error = f"mutmut exited {process.returncode}: {tail}"
        collect(root, results)
    finally:
        if keep:
            sys.stderr.write(f"mutation: workspace kept at {root}\n")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return results


def collect(root: Path, results: list[ModuleResult]) -> None:
    from mutmut.stats import status_by_exit_code  # mutmut loads lazily

    entries = load_equivalents()
    survivors_by_path: dict[str, list[str]] = {}
    for result in results:
        meta = root / "mutants" / (result.path + ".meta")
        if not meta.is_file():
            result.error = result.error or "mutmut wrote no results for this module"
            continue
        exit_codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        for name, code in exit_codes.items():
            status = status_by_exit_code[code]
            if status in ("survived", "no tests", "suspicious", "segfault"):
                survivors_by_path.setdefault(result.path, []).append(name)
                result.counts["survived" if status != "no tests" else "no tests"] += 1
            else:
                result.counts[status] += 1
    names = [name for names in survivors_by_path.values() for name in names]
    diffs = diffs_of(root, names) if names else {}
    for result in results:
        for name in survivors_by_path.get(result.path, []):
            diff = diffs.get(name, "")
            original, mutant = changed_lines(diff)
            function = function_of(name)
            survivor = {
                "name": name,
                "function": function,
                "original": original,
                "mutant": mutant,
                "diff": diff,
            }
            reason = is_equivalent(result.path, survivor, entries)
            if reason is None:
                result.survivors.append(survivor)
            else:
                result.equivalent.append({**survivor, "reason": reason})


def diffs_of(root: Path, names: list[str]) -> dict[str, str]:
    """Each mutant's diff, computed by mutmut itself inside the workspace."""
    program = (
        "import json, sys\n"
        "from mutmut.mutation.diff_apply import get_diff_for_mutant\n"
        "out = {}\n"
        "for name in json.loads(sys.stdin.read()):\n"
        "    try:\n"
        "        out[name] = get_diff_for_mutant(name)\n"
        "    except Exception as error:\n"
        "        out[name] = f'(no diff: {error})'\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program],
        cwd=root,
        input=json.dumps(names),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return dict.fromkeys(names, f"(no diff: {done.stderr.strip()[-300:]})")
    diffs: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    return diffs


def print_text(results: list[ModuleResult], elapsed_s: float) -> None:
    for r in results:
        score = "n/a" if r.score is None else f"{r.score:.1%}"
        verdict = "ok" if r.passes else "BELOW TARGET"
        print(
            f"{module_id(r.path)}: tried {r.tried}, killed {r.counts['killed']}, "
            f"survived {len(r.survivors)}, timeout {r.counts['timeout']}, "
            f"equivalent {len(r.equivalent)}, score {score} [{verdict}]"
        )
        if r.error:
            print(f"  error: {r.error}")
        if r.partial:
            print(f"  partial: the budget ended the run; {r.counts['not checked']} not checked")
        for s in r.survivors:
            print("  survivor " + s["name"])
            print("    " + s["diff"].replace("\n", "\n    "))
    print(f"mutation: {len(results)} modules in {elapsed_s:.0f} s, target {TARGET:.0%} killed")


def run_contracts(names: list[str], as_json: bool, verbose: bool, keep: bool) -> int:
    started = time.monotonic()
    results = mutation_contracts.run_all(names, verbose, keep)
    elapsed = time.monotonic() - started
    if as_json:
        body = {
            "target": TARGET,
            "seconds": round(elapsed),
            "modules": [r.as_json() for r in results],
        }
        print(json.dumps(body, indent=2))
    else:
        mutation_contracts.print_text(results)
        print(f"mutation: {len(results)} contracts in {elapsed:.0f} s, target {TARGET:.0%} killed")
    return 0 if all(r.passes for r in results) else 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="scripts/mutation", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--module", action="append", default=[], help="an id, dotted or path")
    parser.add_argument("--ci", action="store_true", help="the bounded CI subset")
    parser.add_argument(
        "--base",
        default=os.environ.get("QUARTIER_MUTATION_BASE", "HEAD~1"),
        help="--ci: mutate the critical modules changed since this git ref (default HEAD~1)",
    )
    parser.add_argument(
        "--contracts",
        action="store_true",
        help="mutate the contracts' critical checks (slither-mutate against the forge tests)",
    )
    parser.add_argument(
        "--contract", action="append", default=[], help="with --contracts: one target's name"
    )
    parser.add_argument(
        "--budget",
        type=int,
        default=CI_BUDGET_S,
        help=f"--ci: seconds for the whole run (default {CI_BUDGET_S})",
    )
    parser.add_argument("--list", action="store_true", help="list the critical modules")
    parser.add_argument(
        "--workers",
        type=int,
        choices=(1, 2),
        default=WORKERS,
        help="mutmut's worker processes (the machine has 2 cores)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the workspace (debugging)")
    parser.add_argument("--verbose", action="store_true", help="show mutmut's output")
    args = parser.parse_args(argv)
    if args.list:
        for group in GROUPS:
            for path in group.modules:
                print(f"{module_id(path)}  {path}  <- {' '.join(group.tests)}")
        for target in mutation_contracts.TARGETS:
            print(
                f"{mutation_contracts.module_id(target)}  {target.source}  "
                f"<- {' '.join(target.tests)}"
            )
        return 0
    if args.contracts:
        return run_contracts(args.contract, args.json, args.verbose, args.keep)
    wanted = {module_of_id(m) for m in args.module}
    if args.ci:
        wanted |= changed_modules(args.base) or set(CI_MODULES)
    started = time.monotonic()
    results: list[ModuleResult] = []
    for group in GROUPS:
        modules = tuple(m for m in group.modules if not wanted or m in wanted)
        if modules:
            left = None if not args.ci else args.budget - (time.monotonic() - started)
            results += run_group(group, modules, args.verbose, args.keep, left, args.workers)
    elapsed = time.monotonic() - started
    if args.json:
        body = {
            "target": TARGET,
            "seconds": round(elapsed),
            "modules": [r.as_json() for r in results],
        }
        print(json.dumps(body, indent=2))
    else:
        print_text(results, elapsed)
    return 0 if all(r.passes for r in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

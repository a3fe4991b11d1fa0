"""Mutation testing of the contracts' critical checks with slither-mutate (scripts/mutation
--contracts), run against the forge tests.

slither-mutate rewrites the contract in place, compiles it (forge build) and runs the test
command once per mutant, so each target runs in a throw-away workspace holding only the
target, the forge test files named for it and what they import (a mutant then recompiles
the little that depends on it, and other helpers' edits of contracts/ cannot change the code
under test mid-run). A forge build of the exchange takes about a minute on this machine, so
the exchange is mutated in its checks only (`--target-functions`), with the mutators that
model a check gone wrong: a line dropped (CR), a condition forced (MIA), a comparison or a
logical operator swapped (ROR, LOR), a function replaced by a revert (RR).

score = caught / (compiled mutants - equivalent); mutants that do not compile are not
counted (slither-mutate's own rule). Equivalent survivors are listed in
scripts/mutation_equivalent.toml with module = the contract file, function = the mutator.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
VENV = REPO / ".cache" / "slither-venv"
EQUIVALENT_FILE = REPO / "scripts" / "mutation_equivalent.toml"
TARGET = 0.90
#: Runs slither-mutate with two changes: only the target's functions are mutated (by name;
#: slither's --target-functions wants selectors, which private functions with struct
#: parameters spell unreliably), and a mutant is compiled by `forge build` of the whole
#: workspace (the test command then finds it built) instead of a second crytic-compile.
_WRAPPER = """
import os, subprocess, sys
from slither.tools.mutator import __main__ as cli
from slither.tools.mutator.mutators import abstract_mutator
from slither.tools.mutator.utils import testing_generated_mutant as testing
names = set(filter(None, os.environ["QUARTIER_MUTATE_FUNCTIONS"].split(",")))
if names:
    abstract_mutator.AbstractMutator.should_mutate_function = (
        lambda self, function: function.name in names
    )
def forge_build(file_path, mappings):
    done = subprocess.run(["forge", "build", "--offline"], capture_output=True, check=False)
    return done.returncode == 0
testing.compile_generated_mutant = forge_build
sys.argv = ["slither-mutate", *sys.argv[1:]]
cli.main()
"""


@dataclass(frozen=True)
class ContractTarget:
    """One contract file, the forge tests that must catch its mutants, and its bounds."""

    name: str
    source: str
    tests: tuple[str, ...]
    #: Names of the functions mutated (empty: the whole contract).
    functions: tuple[str, ...]
    mutators: str
    timeout_s: int


TARGETS: tuple[ContractTarget, ...] = (
    ContractTarget(
        "QuartierCommunity",
        "contracts/QuartierCommunity.sol",
        (
            "tests/forge/QuartierCommunity.t.sol",
            "tests/forge/QuartierCommunityRules.t.sol",
            "tests/forge/QuartierCommunity*Mutation*.t.sol",
        ),
        # Who may do what, and when: membership, meters, the rules' change delay.
        (
            "onlyManager",
            "admitHousehold",
            "removeHousehold",
            "admitMeter",
            "revokeMeter",
            "scheduleRules",
            "transferManagement",
        ),
        "CR,MIA,LOR",
        1500,
    ),
    ContractTarget(
        "QuartierExchange",
        "contracts/QuartierExchange.sol",
        (
            "tests/forge/QuartierExchangeMeters.t.sol",
            "tests/forge/QuartierExchangePost.t.sol",
            "tests/forge/QuartierExchangeSettle.t.sol",
            "tests/forge/QuartierExchange*Mutation*.t.sol",
        ),
        # A meter batch: its length, its counting range, chained to the meter's last one,
        # signed by the meter's key (issue 17's first example was a reading of another
        # interval counted as this one's).
        # A forge build of the exchange takes 1-2 min here: its batch checks only, with
        # conditions forced either way or negated (MIA) and && / || swapped (LOR).
        ("_acceptBatch", "_checkChained"),
        "MIA,LOR",
        2100,
    ),
)

#: The per-interval clearing (96abe54): the marginal claim read from the hints, the check
#: that it is the walk's total, and netting's choice of the long side. Netting.sol itself is
#: inline assembly throughout, which slither-mutate's mutators do not rewrite (no mutant).
CLEARING = ContractTarget(
    "Clearing",
    "contracts/libraries/Clearing.sol",
    (
        "tests/forge/QuartierExchangeSettle.t.sol",
        "tests/forge/Clearing*Mutation*.t.sol",
    ),
    ("_readClaim", "_isWalkTotal", "_net"),
    "ROR,LOR,MIA",
    1500,
)
TARGETS = (*TARGETS, CLEARING)

_IMPORT = re.compile(r'^\s*import\s+(?:[^"\']*from\s+)?["\']([^"\']+)["\']', re.MULTILINE)
#: One mutant's verdict; the original and the mutant may span lines (a multi-line condition).
_RESULT = re.compile(
    r"\[(\w+)\] Line (\d+): '(.*?)' ==> '(.*?)' --> (UNCAUGHT|CAUGHT|COMPILATION FAILURE)",
    re.DOTALL,
)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def module_id(target: ContractTarget) -> str:
    return f"mutation.contracts.{target.name}"


@dataclass
class ContractResult:
    target: ContractTarget
    caught: list[dict[str, Any]] = field(default_factory=list)
    survivors: list[dict[str, Any]] = field(default_factory=list)
    equivalent: list[dict[str, Any]] = field(default_factory=list)
    compile_failures: int = 0
    seconds: float = 0.0
    error: str | None = None

    @property
    def tried(self) -> int:
        return len(self.caught) + len(self.survivors) + len(self.equivalent)

    @property
    def score(self) -> float | None:
        denominator = self.tried - len(self.equivalent)
        return None if denominator <= 0 else len(self.caught) / denominator

    @property
    def passes(self) -> bool:
        return self.error is None and self.score is not None and self.score >= TARGET

    def as_json(self) -> dict[str, Any]:
        return {
            "id": module_id(self.target),
            "module": self.target.source,
            "functions": list(self.target.functions) or "all",
            "tried": self.tried,
            "killed": len(self.caught),
            "survived": len(self.survivors),
            "equivalent": len(self.equivalent),
            "compile_failures": self.compile_failures,
            "score": None if self.score is None else round(self.score, 4),
            "passes": self.passes,
            "seconds": round(self.seconds),
            "error": self.error,
            "survivors": self.survivors,
            "equivalents": self.equivalent,
        }


def _closure(starts: list[Path]) -> set[Path]:
    """The files `starts` import, transitively (relative imports; remapped ones live in
    node_modules, which the workspace links)."""
    seen: set[Path] = set()
    todo = [p.resolve() for p in starts]
    while todo:
        path = todo.pop()
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        for name in _IMPORT.findall(path.read_text()):
            if name.startswith("."):
                todo.append((path.parent / name).resolve())
    return seen


def test_files(target: ContractTarget) -> list[Path]:
    found: list[Path] = []
    for pattern in target.tests:
        found += sorted(REPO.glob(pattern))
    return found


def prepare(root: Path, target: ContractTarget) -> None:
    """The target and what its tests import, as committed (HEAD): the shared working tree
    may hold another helper's contract edit in progress."""
    committed = root / "committed"
    archive = subprocess.run(
        ["git", "archive", "HEAD", "contracts", "tests/forge", "scripts/solc", "foundry.toml"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout
    committed.mkdir()
    subprocess.run(["tar", "-x", "-C", str(committed)], input=archive, check=True)
    tests = [committed / p.relative_to(REPO) for p in test_files(target)]
    for path in _closure([committed / target.source, *tests]):
        relative = path.relative_to(committed)
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, root / relative)
    (root / "scripts").mkdir(exist_ok=True)
    shutil.copy2(committed / "scripts" / "solc", root / "scripts" / "solc")
    shutil.copy2(committed / "foundry.toml", root / "foundry.toml")
    shutil.rmtree(committed)
    (root / "node_modules").symlink_to(REPO / "node_modules")


def load_equivalents() -> list[dict[str, str]]:
    if not EQUIVALENT_FILE.is_file():
        return []
    entries: list[dict[str, str]] = tomllib.loads(EQUIVALENT_FILE.read_text()).get("equivalent", [])
    return entries


def run_target(target: ContractTarget, verbose: bool, keep: bool) -> ContractResult:
    result = ContractResult(target)
    root = Path(tempfile.mkdtemp(prefix=f"quartier-mutation-{target.name}-"))
    started = time.monotonic()
    try:
        prepare(root, target)
        match = "{" + ",".join(str(p.relative_to(REPO)) for p in test_files(target)) + "}"
        command = [
            str(VENV / "bin" / "python"),
            "-c",
            _WRAPPER,
            target.source,
            "--test-cmd",
            f"forge test --offline --match-path '{match}'",
            "--timeout",
            "900",
            "--output-dir",
            str(root / "campaign"),
            "--mutators-to-run",
            target.mutators,
            "--compile-force-framework",
            "foundry",
            "--skip-clean",
            "-v",
        ]
        env = {
            **os.environ,
            "QUARTIER_MUTATE_FUNCTIONS": ",".join(target.functions),
            # Each mutant reruns the tests: fewer fuzz runs than forge's 256 (a mutant the
            # examples do not reach survives and is listed, so this errs on the strict side).
            "FOUNDRY_FUZZ_RUNS": "32",
            "PATH": f"{REPO / 'node_modules' / '.bin'}:{VENV / 'bin'}:{os.environ['PATH']}",
        }
        log = root / "slither-mutate.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                command,
                cwd=root,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                process.wait(timeout=target.timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait()
                result.error = f"time limit of {target.timeout_s} s reached (partial counts)"
        text = _ANSI.sub("", log.read_text(errors="replace"))
        if verbose:
            print(text[-4000:])
        _collect(text, result)
        if result.tried == 0 and result.error is None:
            result.error = "slither-mutate reported no mutant: " + text[-1200:]
    finally:
        result.seconds = time.monotonic() - started
        if keep:
            print(f"mutation: workspace kept at {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    return result


def _collect(text: str, result: ContractResult) -> None:
    entries = load_equivalents()
    for mutator, line, old, new, verdict in _RESULT.findall(text):
        old, new = " ".join(old.split()), " ".join(new.split())
        mutant = {"mutator": mutator, "line": int(line), "original": old, "mutant": new}
        if verdict == "CAUGHT":
            result.caught.append(mutant)
        elif verdict == "COMPILATION FAILURE":
            result.compile_failures += 1
        else:
            reason = next(
                (
                    e["reason"]
                    for e in entries
                    if e["module"] == result.target.source
                    and e["function"] == mutator
                    and (e["original"], e["mutant"]) == (old, new)
                ),
                None,
            )
            if reason is None:
                result.survivors.append(mutant)
            else:
                result.equivalent.append({**mutant, "reason": reason})


def run_all(names: list[str], verbose: bool, keep: bool) -> list[ContractResult]:
    wanted = [t for t in TARGETS if not names or t.name in names]
    return [run_target(t, verbose, keep) for t in wanted]


def print_text(results: list[ContractResult]) -> None:
    for r in results:
        score = "n/a" if r.score is None else f"{r.score:.1%}"
        verdict = "ok" if r.passes else "BELOW TARGET"
        print(
            f"{module_id(r.target)}: tried {r.tried}, killed {len(r.caught)}, "
            f"survived {len(r.survivors)}, equivalent {len(r.equivalent)}, "
            f"not compiling {r.compile_failures}, score {score} [{verdict}] in {r.seconds:.0f} s"
        )
        if r.error:
            print(f"  error: {r.error}")
        for s in r.survivors:
            where = f"[{s['mutator']}] line {s['line']}"
            print(f"  survivor {where}: {s['original']!r} -> {s['mutant']!r}")

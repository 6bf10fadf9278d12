"""Expert placement in EPLB's terms: replicas, nodes, groups, memory, migration limits."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import DATA, Service, module_service, run_makespan

from makespan.models.errors import InstanceError
from makespan.models.expert_placement import MODEL, ExpertPlacementInstance, decompose
from makespan.models.expert_placement.generate import generate
from makespan.models.expert_placement.heuristics import warm_start
from makespan.models.expert_placement.instance import (
    ExpertPlacementSolution,
    balance_bound,
    routing_bound,
)
from makespan.models.expert_placement.replicas import eplb_placement
from makespan.solvers import Result, solve
from makespan.solvers.options import OptionsError

service = module_service("replicas", workers="1")

SMALL = DATA / "eplb_small.json"
"""2 layers of 6 experts, 8 slots on 4 GPUs in 2 nodes, 2 groups, 3 routes, tiered links."""


def _document(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(SMALL.read_text())
    document.update(changes)
    return document


def _instance(**changes: Any) -> ExpertPlacementInstance:
    return MODEL.parse_instance(_document(**changes))


def _solution(result: Result) -> ExpertPlacementSolution:
    assert result.solution is not None
    return MODEL.parse_solution(result.solution)


def _eplb_example(shared: Path) -> tuple[ExpertPlacementInstance, list[list[int]]]:
    data = json.loads((shared / "moe_placement" / "eplb_readme_example.json").read_text())
    keys = ("weight", "num_replicas", "num_groups", "num_nodes", "num_gpus")
    return MODEL.parse_instance({k: data[k] for k in keys}), data["expected_phy2log"]


def test_eplb_policy_reproduces_the_published_example(shared_benchmarks: Path) -> None:
    instance, expected = _eplb_example(shared_benchmarks)
    sets = eplb_placement(instance)
    assert sets is not None
    ours = ExpertPlacementSolution.from_replicas(instance, sets)
    per_gpu = instance.slots_per_gpu

    def gpus(phy2log: Any) -> list[list[list[int]]]:
        return [
            [sorted(row[g * per_gpu : (g + 1) * per_gpu]) for g in range(instance.num_gpus)]
            for row in phy2log
        ]

    assert ours.phy2log is not None and gpus(ours.phy2log) == gpus(expected)
    warm = warm_start(instance, 1.0, 0, lambda: False)
    assert warm is not None and warm.solution.balancedness is not None
    assert ours.balancedness is not None and warm.solution.balancedness >= ours.balancedness


def test_weight_is_read_as_loads_and_old_instances_stay_valid() -> None:
    instance = _instance()
    assert instance.loads == tuple(map(tuple, _document()["weight"]))
    assert instance.slots == 8 and instance.slots_per_gpu == 2 and instance.replicated
    old = generate(2, 8, 4, 1000, seed=0)
    assert not old.replicated and old.slots == 8 and old.max_copies == 1


@pytest.mark.parametrize("backend", ["cpsat", "highs"])
def test_known_replicated_optimum_is_proven(backend: str) -> None:
    instance = _instance()
    result = solve("expert_placement", instance, time_limit_s=60, backend=backend, workers=2)
    assert result.status == "optimal" and result.objective == 99 and result.bound == 99
    solution = _solution(result)
    report = MODEL.check(instance, solution)
    assert report.feasible and report.objective == result.objective
    assert solution.logcnt is not None and all(sum(row) == 8 for row in solution.logcnt)
    assert all(min(row) >= 1 for row in solution.logcnt)


def test_hierarchy_is_respected() -> None:
    instance = _instance()
    result = solve("expert_placement", instance, time_limit_s=20, workers=2)
    solution = _solution(result)
    for row in solution.replica_sets(instance):
        for group in range(2):
            nodes = {instance.node_of(g) for gpus in row[group * 3 : group * 3 + 3] for g in gpus}
            assert len(nodes) == 1
        assert all(len(set(gpus)) == len(gpus) for gpus in row)
    assert solution.node_loads is not None and solution.gpu_loads is not None
    for node_loads, gpus in zip(solution.node_loads, solution.gpu_loads, strict=True):
        assert list(node_loads) == [sum(gpus[:2]), sum(gpus[2:])]


def test_routes_cost_the_cheapest_link_between_replicas() -> None:
    instance = _instance(num_groups=None)
    one_gpu = [[(0,)] * 6, [(0,)] * 6]
    solution = ExpertPlacementSolution.from_replicas(instance, one_gpu)
    assert solution.crossing_tokens == 0
    layer0 = [(0, 1), (0,), (1,), (3,), (2, 3), (2,)]
    layer1 = [(0,), (1,), (2, 3), (0, 1), (2,), (3,)]
    priced = ExpertPlacementSolution.from_replicas(instance, [layer0, layer1])
    # 3 -> 4 (20 tokens): GPUs 3 and 2, one node (cost 1); 0 -> 1 and 5 -> 2 share a GPU
    assert priced.crossing_tokens == 20
    moved = [(2,), (1,), (2, 3), (0, 1), (0,), (3,)]
    remote = ExpertPlacementSolution.from_replicas(instance, [layer0, moved])
    assert remote.crossing_tokens == 20 * 3  # 3 -> 4 now crosses nodes
    assert MODEL.check(instance, remote).feasible
    assert MODEL.check(instance, priced).feasible


def _good(instance: ExpertPlacementInstance) -> dict[str, Any]:
    warm = warm_start(instance, 0.5, 0, lambda: False)
    assert warm is not None
    return MODEL.dump_solution(warm.solution)


def _cross_nodes(s: dict[str, Any]) -> None:
    """Trade GPU 0's first replica with one on node 1 of another group (no doubling up)."""
    row = s["phy2log"][0]
    for t in range(4, 8):
        gpu = t // 2 * 2
        if (
            row[t] // 3 != row[0] // 3
            and row[t] not in row[0:2]
            and row[0] not in row[gpu : gpu + 2]
        ):
            row[0], row[t] = row[t], row[0]
            return
    raise AssertionError("no replica to trade")


def _double_up(s: dict[str, Any]) -> None:
    row = s["phy2log"][0]
    row[1] = row[0]


def _drop_expert(s: dict[str, Any]) -> None:
    row = s["phy2log"][0]
    lonely = next(e for e in range(6) if row.count(e) == 1)
    donor = next(e for e in range(6) if row.count(e) > 1)
    row[row.index(lonely)] = donor


VIOLATIONS = [
    ("missing phy2log", lambda s: s.update(phy2log=None), "phy2log is missing"),
    ("a short layer", lambda s: s["phy2log"][0].pop(), "slots, not 8"),
    ("an expert out of range", lambda s: s["phy2log"][0].__setitem__(0, 6), "out of range"),
    ("two replicas on a GPU", _double_up, "two replicas on GPU"),
    ("an expert without replica", _drop_expert, "has no replica"),
    ("a group across nodes", _cross_nodes, "spans nodes"),
    ("wrong counts", lambda s: s["logcnt"][0].__setitem__(0, 9), "logcnt"),
    ("wrong slots", lambda s: s["log2phy"][0].__setitem__(0, [7, -1]), "log2phy"),
    ("wrong GPU loads", lambda s: s["gpu_loads"][0].__setitem__(0, 0), "gpu_loads"),
    ("wrong node loads", lambda s: s["node_loads"][0].__setitem__(0, 0), "node_loads"),
    ("wrong balancedness", lambda s: s.update(balancedness=0.01), "balancedness"),
    ("wrong first GPU", lambda s: s["placement"][0].__setitem__(0, 3), "first GPU"),
    ("wrong objective", lambda s: s.update(objective=s["objective"] + 1), "objective"),
]


@pytest.mark.parametrize(("case", "mutate", "named"), VIOLATIONS, ids=[v[0] for v in VIOLATIONS])
def test_checker_names_each_violation(case: str, mutate: Any, named: str) -> None:
    instance = _instance()
    good = _good(instance)
    assert MODEL.check(instance, MODEL.parse_solution(good)).feasible
    broken = copy.deepcopy(good)
    for key in ("phy2log", "logcnt", "log2phy", "gpu_loads", "node_loads", "placement"):
        if broken.get(key) is not None:
            broken[key] = [
                [list(x) if isinstance(x, list) else x for x in row] for row in broken[key]
            ]
    mutate(broken)
    report = MODEL.check(instance, MODEL.parse_solution(broken))
    assert not report.feasible and report.objective is None, case
    assert any(named in v for v in report.violations), report.violations


def test_memory_limits_are_kept_and_checked() -> None:
    sizes = [[10, 10, 10, 10, 10, 30], [10, 10, 10, 10, 10, 20]]
    instance = _instance(num_groups=None, expert_bytes=sizes, gpu_memory=[60, 60, 60, 60])
    result = solve("expert_placement", instance, time_limit_s=20, workers=2)
    solution = _solution(result)
    used = [0] * 4
    for layer, row in enumerate(solution.replica_sets(instance)):
        for e, gpus in enumerate(row):
            for g in gpus:
                used[g] += sizes[layer][e]
    assert max(used) <= 60
    heavy = [[(0, 1), (0,), (1,), (2,), (3,), (2, 3)], [(0, 1), (0,), (1,), (2,), (3,), (2, 3)]]
    over = ExpertPlacementSolution.from_replicas(instance, heavy)
    assert any("above its memory" in v for v in MODEL.check(instance, over).violations)


def test_rebalancing_moves_at_most_max_moves() -> None:
    instance = _instance()
    first = solve("expert_placement", instance, time_limit_s=10, workers=2)
    drifted = _instance(weight=[[5, 30, 12, 8, 40, 20], [30, 25, 4, 9, 7, 25]], max_moves=2)
    result = solve(
        "expert_placement",
        drifted,
        time_limit_s=20,
        workers=2,
        reference=first.solution,
        stability_weight=0,
    )
    assert result.solution is not None and result.solution["deviation"] <= 2
    assert MODEL.check(drifted, _solution(result)).feasible
    free = solve(
        "expert_placement",
        drifted.model_copy(update={"max_moves": None}),
        time_limit_s=20,
        workers=2,
        reference=first.solution,
        stability_weight=0,
    )
    assert free.objective is not None and result.objective is not None
    assert free.objective <= result.objective
    with pytest.raises(OptionsError) as refused:
        solve("expert_placement", drifted, time_limit_s=5, workers=1)
    assert refused.value.field == "options.reference"


def test_migration_in_bytes_counts_the_weights_copied() -> None:
    sizes = [[1, 2, 3, 4, 5, 6], [10, 20, 30, 40, 50, 60]]
    instance = _instance(expert_bytes=sizes, migration="bytes")
    first = _solution(solve("expert_placement", instance, time_limit_s=5, workers=2))
    drifted = instance.model_copy(update={"loads": ((5, 30, 12, 8, 40, 20), (30, 25, 4, 9, 7, 25))})
    result = solve(
        "expert_placement",
        drifted,
        time_limit_s=10,
        workers=2,
        reference=MODEL.dump_solution(first),
        stability_weight=0.5,
    )
    after = _solution(result)
    before_sets, after_sets = first.replica_sets(instance), after.replica_sets(instance)
    copied = sum(
        sizes[layer][e] * len(set(after_sets[layer][e]) - set(before_sets[layer][e]))
        for layer in range(2)
        for e in range(6)
    )
    assert result.solution is not None and result.solution["deviation"] == copied


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"num_replicas": 9}, None, "num_replicas: 9 slots is not a multiple"),
        ({"num_replicas": 4}, None, "more than the 4 slots"),
        ({"num_replicas": 10**9}, "num_replicas", ""),
        ({"num_nodes": 3}, None, "num_nodes: 3 does not divide"),
        ({"num_groups": 4}, None, "num_groups: 4 does not divide"),
        ({"num_groups": 3}, None, "is not a multiple of num_nodes"),
        ({"link_cost": [[0, 1, 1, 1]] * 4}, None, "link_cost: give link_cost or"),
        ({"intra_node_cost": 5}, None, "inter_node_cost: 3.0 is below"),
        ({"gpu_memory": [1, 1, 1, 1]}, None, "gpu_memory: needs expert_bytes"),
        ({"migration": "bytes"}, None, "migration: 'bytes' needs expert_bytes"),
        ({"expert_bytes": [[1] * 6]}, None, "expert_bytes: 1 layers"),
        ({"max_moves": -1}, "max_moves", ""),
    ],
)
def test_hostile_fields_are_refused_by_name(
    changes: dict[str, Any], field: str | None, message: str
) -> None:
    with pytest.raises(InstanceError) as caught:
        _instance(**changes)
    assert caught.value.field == field
    assert message in str(caught.value)


def test_size_counts_replica_choices_before_validation() -> None:
    document = _document()
    base = MODEL.document_size(document)
    assert base == MODEL.size(_instance())
    document.update(num_gpus=4096, num_replicas=4096 * 8, num_groups=None)
    assert MODEL.document_size(document) > base * 1000


def test_bounds_are_proven_and_not_trivial() -> None:
    instance = generate(3, 16, 4, 4000, seed=2)
    result = solve("expert_placement", instance, time_limit_s=4, workers=2)
    assert result.bound is not None and result.objective is not None
    assert result.bound <= result.objective
    assert routing_bound(instance) > 0
    assert instance.lower_bound <= result.objective
    grouped = _instance()
    assert [balance_bound(grouped, layer) for layer in range(2)] > [
        -(-sum(row) // 4) for row in grouped.loads
    ]


def test_rest_and_cli_take_the_new_fields(
    service: Service, makespan_command: list[str], tmp_path: Path
) -> None:
    body = {"problem": "expert_placement", "instance": _document(), "options": {"time_limit_s": 10}}
    answer = httpx.post(f"{service.url}/v1/solve", json=body, timeout=60)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["objective"] == 99 and result["solution"]["phy2log"]
    bad = {**body, "instance": _document(num_replicas=7)}
    refused = httpx.post(f"{service.url}/v1/solve", json=bad, timeout=60)
    assert refused.status_code == 422 and "num_replicas" in refused.text
    done = run_makespan(
        makespan_command, "solve", str(SMALL), "--json", "--time-limit", "10", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["solution"]["balancedness"] > 0


def test_a_plain_weight_matrix_file_takes_its_layout(
    makespan_command: list[str], tmp_path: Path
) -> None:
    matrix = tmp_path / "weight.json"
    matrix.write_text(json.dumps(_document()["weight"]))
    bare = run_makespan(
        makespan_command, "solve", str(matrix), "--problem", "expert_placement", cwd=tmp_path
    )
    assert bare.returncode == 2 and "--layout" in bare.stderr
    layout = "num_gpus=4,num_replicas=8,num_nodes=2,num_groups=2"
    done = run_makespan(
        makespan_command, "solve", str(matrix), "--layout", layout, "--json", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    solution = json.loads(done.stdout)["solution"]
    assert len(solution["phy2log"][0]) == 8
    wrong = run_makespan(makespan_command, "solve", str(matrix), "--layout", "gpus=4", cwd=tmp_path)
    assert wrong.returncode == 2 and "layout" in wrong.stderr


def test_the_decomposition_search_keeps_every_layer_valid_and_no_worse() -> None:
    base = generate(4, 16, 4, 20_000, seed=3)
    document: dict[str, Any] = base.model_dump(exclude={"experts_per_gpu"})
    document.update(num_replicas=24, num_nodes=2, num_groups=2, routing=(), communication_weight=0)
    instance = MODEL.parse_instance(document)
    assert decompose.decomposable(instance)
    warm = warm_start(instance, 0.5, 0, lambda: False)
    assert warm is not None
    answer = decompose.search(instance, 4.0, lambda: False, None)
    assert answer.solution is not None and answer.objective is not None
    report = MODEL.check(instance, answer.solution)
    assert report.feasible and report.objective == answer.objective
    assert instance.lower_bound <= answer.objective <= warm.objective
    routed = instance.model_copy(update={"communication_weight": 1.0, "routing": base.routing})
    assert not decompose.decomposable(routed)

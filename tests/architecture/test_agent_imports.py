"""The agents package imports without a loop: every import between its modules (at the top, inside functions
or for type checking alone) points one way, so each agent can be read, tested and replaced on its own."""

from __future__ import annotations

from pathlib import Path

from tests.architecture.test_layers import SRC, imports_of, module_name

AGENTS = SRC / "agents"


def graph() -> dict[str, set[str]]:
    modules = {module_name(path): path for path in sorted(AGENTS.glob("*.py")) if path.name != "__init__.py"}
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for _, imported in imports_of(path):
            target = next((m for m in modules if imported == m or imported.startswith(f"{m}.")), None)
            if target and target != name:
                edges[name].add(target)
    return edges


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_agents_package_has_no_import_loop() -> None:
    found = cycle(graph())
    assert found is None, "import loop: " + " -> ".join(name.removeprefix("investai.agents.") for name in found)


def test_the_prompt_module_depends_on_no_agent() -> None:
    assert graph()["investai.agents.prompts"] == set()


def test_the_loop_check_finds_a_loop(tmp_path: Path) -> None:
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None

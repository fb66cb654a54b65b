"""The LearnFlow Python curriculum: 8 modules, 31 topics and their prerequisite DAG."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple


class Topic(NamedTuple):
    """One topic: `id` is `module.topic`, stable forever (it keys stored state)."""

    id: str
    name: str
    module: str
    target_exercises: int
    prerequisites: tuple[str, ...] = ()


class Module(NamedTuple):
    """A module groups topics; its mastery is the mean of its topics."""

    id: str
    name: str
    topics: tuple[str, ...]


# (module id, module name, [(topic slug, display name, target exercises, prerequisites)])
_SPEC: tuple[tuple[str, str, tuple[tuple[str, str, int, tuple[str, ...]], ...]], ...] = (
    (
        "basics",
        "Basics",
        (
            ("variables", "Variables", 6, ()),
            ("data_types", "Data types", 6, ("basics.variables",)),
            ("input_output", "Input/output", 5, ("basics.variables",)),
            ("operators", "Operators", 6, ("basics.data_types",)),
            ("type_conversion", "Type conversion", 5, ("basics.data_types",)),
        ),
    ),
    (
        "control_flow",
        "Control flow",
        (
            ("conditionals", "Conditionals", 8, ("basics.operators",)),
            ("for_loops", "For loops", 8, ("control_flow.conditionals",)),
            ("while_loops", "While loops", 6, ("control_flow.conditionals",)),
            ("break_continue", "Break/continue", 5, ("control_flow.for_loops",)),
        ),
    ),
    (
        "data_structures",
        "Data structures",
        (
            ("lists", "Lists", 10, ("control_flow.for_loops",)),
            ("tuples", "Tuples", 5, ("data_structures.lists",)),
            ("dictionaries", "Dictionaries", 8, ("data_structures.lists",)),
            ("sets", "Sets", 5, ("data_structures.lists",)),
        ),
    ),
    (
        "functions",
        "Functions",
        (
            ("defining_functions", "Defining functions", 8, ("control_flow.conditionals",)),
            ("parameters", "Parameters", 6, ("functions.defining_functions",)),
            ("return_values", "Return values", 6, ("functions.defining_functions",)),
            ("scope", "Scope", 5, ("functions.parameters", "functions.return_values")),
        ),
    ),
    (
        "oop",
        "Object-oriented programming",
        (
            (
                "classes_objects",
                "Classes & objects",
                8,
                ("functions.return_values", "data_structures.dictionaries"),
            ),
            ("attributes_methods", "Attributes & methods", 8, ("oop.classes_objects",)),
            ("inheritance", "Inheritance", 6, ("oop.attributes_methods",)),
            ("encapsulation", "Encapsulation", 5, ("oop.attributes_methods",)),
        ),
    ),
    (
        "files",
        "Files",
        (
            (
                "reading_writing",
                "Reading/writing files",
                6,
                ("basics.input_output", "errors.try_except"),
            ),
            (
                "csv_processing",
                "CSV processing",
                5,
                ("files.reading_writing", "data_structures.lists"),
            ),
            (
                "json_handling",
                "JSON handling",
                5,
                ("files.reading_writing", "data_structures.dictionaries"),
            ),
        ),
    ),
    (
        "errors",
        "Errors",
        (
            ("try_except", "Try/except", 6, ("functions.defining_functions",)),
            ("exception_types", "Exception types", 5, ("errors.try_except",)),
            (
                "custom_exceptions",
                "Custom exceptions",
                4,
                ("errors.exception_types", "oop.inheritance"),
            ),
            ("debugging", "Debugging", 5, ("errors.try_except",)),
        ),
    ),
    (
        "libraries",
        "Libraries",
        (
            ("installing_packages", "Installing packages", 4, ("functions.defining_functions",)),
            (
                "working_with_apis",
                "Working with APIs",
                6,
                ("libraries.installing_packages", "files.json_handling"),
            ),
            ("virtual_environments", "Virtual environments", 4, ("libraries.installing_packages",)),
        ),
    ),
)


@dataclass(frozen=True)
class Curriculum:
    """Modules in teaching order and topics by id."""

    modules: tuple[Module, ...]
    topics: Mapping[str, Topic]

    def topic(self, topic_id: str) -> Topic:
        """The topic with this id; KeyError when there is none."""
        return self.topics[topic_id]

    def __contains__(self, topic_id: object) -> bool:
        return topic_id in self.topics

    def topological_order(self) -> list[str]:
        """Topic ids with every prerequisite before the topics that need it."""
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(topic_id: str) -> None:
            if state.get(topic_id) == 2:
                return
            if state.get(topic_id) == 1:
                raise ValueError(f"prerequisite cycle through {topic_id}")
            state[topic_id] = 1
            for prerequisite in self.topics[topic_id].prerequisites:
                visit(prerequisite)
            state[topic_id] = 2
            order.append(topic_id)

        for topic_id in self.topics:
            visit(topic_id)
        return order


def build_curriculum() -> Curriculum:
    """The LearnFlow curriculum, checked: known prerequisites and no cycles."""
    modules = []
    topics: dict[str, Topic] = {}
    for module_id, module_name, specs in _SPEC:
        ids = []
        for slug, name, target, prerequisites in specs:
            topic_id = f"{module_id}.{slug}"
            topics[topic_id] = Topic(topic_id, name, module_id, target, prerequisites)
            ids.append(topic_id)
        modules.append(Module(module_id, module_name, tuple(ids)))
    for topic in topics.values():
        unknown = [p for p in topic.prerequisites if p not in topics]
        if unknown:
            raise ValueError(f"{topic.id} needs unknown topics {unknown}")
    curriculum = Curriculum(tuple(modules), topics)
    curriculum.topological_order()
    return curriculum


CURRICULUM = build_curriculum()

"""Records: the part of `dataclasses` archgraph uses, at a fraction of its start-up cost.

`@record` (and `@record(frozen=True, slots=True, eq=False, repr=False)`) makes a class from its
annotated fields as `@dataclass` would: `__init__` with the defaults and `field(default_factory=...)`,
`__repr__`, `__eq__` (and `__hash__`: by fields when frozen, none otherwise), frozen assignment
refused, `__slots__`, `__match_args__`. A command imports ~50 such classes: `dataclasses` imports
`inspect` (~10 ms) and compiles five or six functions per class (~0.2 ms each on a 2-core machine).
A record's methods are shared functions reading the class's field list (`==` and `hash` through
`operator.attrgetter`); only `__init__` is compiled for a class's fields, at its `COMPILE_AFTER`-th
instance, so the classes a command makes few of never pay for it. A record is still a dataclass to
`dataclasses.fields`, `replace`, `astuple` and `is_dataclass`: its `__dataclass_fields__` is built
on first use. Not supported (not used): inheritance between records, `__post_init__`, ordering,
keyword-only fields.
"""

from __future__ import annotations

from operator import attrgetter as _attrgetter

_MISSING = object()


class Field:
    """A field's options: `default`, `default_factory`, `repr`, `compare` (as `dataclasses.field`'s)."""

    __slots__ = ("compare", "default", "default_factory", "repr")

    def __init__(self, default: object, default_factory: object, repr: bool, compare: bool) -> None:
        self.default, self.default_factory, self.repr, self.compare = default, default_factory, repr, compare


def field(*, default=_MISSING, default_factory=_MISSING, repr: bool = True, compare: bool = True) -> Field:
    """A field with a default (or a factory called per instance), or left out of `repr` or `==`."""
    return Field(default, default_factory, repr, compare)


class FrozenInstanceError(AttributeError):
    """Assignment to a field of a frozen record."""


class _DataclassFields:
    """`__dataclass_fields__` built on first access (importing `dataclasses` then), so that
    `dataclasses.fields`/`replace`/`astuple` work on records."""

    def __get__(self, instance: object, owner: type) -> dict:
        import dataclasses

        fields = {}
        for name, spec in owner.__record_fields__.items():
            options = {"default": spec.default} if spec.default is not _MISSING else {}
            if spec.default_factory is not _MISSING:
                options["default_factory"] = spec.default_factory
            made = dataclasses.field(**options, repr=spec.repr, compare=spec.compare)
            made.name, made.type, made._field_type = name, owner.__annotations__[name], dataclasses._FIELD
            fields[name] = made
        type.__setattr__(owner, "__dataclass_fields__", fields)
        return fields


def record(cls: type | None = None, /, *, frozen: bool = False, slots: bool = False, eq: bool = True,
           repr: bool = True):  # fmt: skip
    """The class `cls` made a record (see the module's docstring); with options, the decorator."""

    def wrap(cls: type) -> type:
        return _make(cls, frozen, slots, eq, repr)

    return wrap if cls is None else wrap(cls)


def replace(obj: object, /, **changes: object) -> object:
    """A copy of the record `obj` with the fields in `changes` set to new values."""
    return obj.__class__(**{name: getattr(obj, name) for name in obj.__record_fields__} | changes)


def _fields(cls: type) -> dict[str, Field]:
    """The class's annotated fields in order, each with its options; class-level defaults removed."""
    fields = {}
    for name, annotation in cls.__dict__.get("__annotations__", {}).items():  # noqa: RUF063  (own fields only)
        if str(annotation).startswith("ClassVar"):
            continue
        value = cls.__dict__.get(name, _MISSING)
        fields[name] = value if isinstance(value, Field) else Field(value, _MISSING, True, True)
    return fields


def _make(cls: type, frozen: bool, slots: bool, eq: bool, show: bool) -> type:
    """`cls` (or, with `slots`, a copy of it with `__slots__`) given the shared methods and its fields."""
    fields = _fields(cls)
    if slots:
        body = {k: v for k, v in cls.__dict__.items() if k not in fields and k not in ("__dict__", "__weakref__")}
        body["__slots__"] = tuple(fields)
        made = type(cls)(cls.__name__, cls.__bases__, body)
        made.__qualname__ = cls.__qualname__
        cls = made
    else:
        for name, spec in fields.items():
            if spec.default is not _MISSING:
                setattr(cls, name, spec.default)
            elif name in cls.__dict__:
                delattr(cls, name)
    own = set(cls.__dict__)
    methods = {
        "__init__": _init,
        "__repr__": _repr if show and "__repr__" not in own else _KEEP,
        "__eq__": _eq if eq and "__eq__" not in own else _KEEP,
        "__hash__": _hash if eq and frozen else None if eq and "__hash__" not in own else _KEEP,  # as dataclasses
        "__setattr__": _refuse_set if frozen else _KEEP,
        "__delattr__": _refuse_delete if frozen else _KEEP,
        "__reduce__": _reduce if slots else _KEEP,
        "__record_fields__": fields,
        "__record_shown__": tuple(n for n, f in fields.items() if f.repr),
        "__record_key__": staticmethod(_key(tuple(n for n, f in fields.items() if f.compare))),
        "__record_frozen__": frozen,
        "__record_made__": 0,
        "__match_args__": tuple(fields),
        "__dataclass_fields__": _DataclassFields(),
    }
    for name, method in methods.items():
        if method is not _KEEP:
            type.__setattr__(cls, name, method)
    return cls


_KEEP = object()  # a method the class keeps (its own, or its base's)


def _key(names: tuple[str, ...]):
    """What `==` and `hash` compare: the tuple of the fields `names` of a record."""
    return _attrgetter(*names) if len(names) > 1 else lambda obj: tuple(getattr(obj, n) for n in names)


def _init(self, *args: object, **kwargs: object) -> None:
    """Any record's `__init__` until its class has made `COMPILE_AFTER` instances: then the class gets
    one compiled for its fields (as fast as a dataclass's; compiling costs ~0.2 ms, so rare classes skip it)."""
    cls = self.__class__
    fields = cls.__record_fields__
    if len(args) > len(fields):
        raise TypeError(f"{cls.__name__}() takes {len(fields)} arguments but {len(args)} were given")
    values = dict(zip(fields, args, strict=False))
    for name, value in kwargs.items():
        if name not in fields or name in values:
            raise TypeError(f"{cls.__name__}() got an {'unexpected' if name not in fields else 'extra'} "
                            f"value for argument {name!r}")  # fmt: skip
        values[name] = value
    for name, spec in fields.items():
        if name in values:
            object.__setattr__(self, name, values[name])
        elif spec.default_factory is not _MISSING:
            object.__setattr__(self, name, spec.default_factory())
        elif spec.default is not _MISSING:
            object.__setattr__(self, name, spec.default)
        else:
            raise TypeError(f"{cls.__name__}() missing required argument: {name!r}")
    cls.__record_made__ += 1
    if cls.__record_made__ == COMPILE_AFTER:
        cls.__init__ = _compiled_init(cls)


COMPILE_AFTER = 32


def _compiled_init(cls: type) -> object:
    """`__init__` written out for the fields of `cls` and compiled (as dataclasses does)."""
    namespace = {"_MISSING": _MISSING, "_set": object.__setattr__}
    params, body = ["self"], []
    for name, spec in cls.__record_fields__.items():
        value = name
        if spec.default_factory is not _MISSING:
            namespace[f"_factory_{name}"] = spec.default_factory
            params.append(f"{name}=_MISSING")
            value = f"_factory_{name}() if {name} is _MISSING else {name}"
        elif spec.default is not _MISSING:
            namespace[f"_default_{name}"] = spec.default
            params.append(f"{name}=_default_{name}")
        else:
            params.append(name)
        body.append(f"    _set(self, '{name}', {value})" if cls.__record_frozen__ else f"    self.{name} = {value}")
    exec("\n".join([f"def __init__({', '.join(params)}):", *(body or ["    pass"])]), namespace)
    namespace["__init__"].__qualname__ = f"{cls.__qualname__}.__init__"
    return namespace["__init__"]


def _repr(self) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__record_shown__)
    return f"{self.__class__.__qualname__}({shown})"


def _eq(self, other: object) -> bool:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return self.__record_key__(self) == self.__record_key__(other)


def _hash(self) -> int:
    return hash(self.__record_key__(self))


def _refuse_set(self, name: str, value: object) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _refuse_delete(self, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _reduce(self) -> tuple:
    return self.__class__, tuple(getattr(self, name) for name in self.__record_fields__)

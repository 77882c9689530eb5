"""Records: the part of `dataclasses` archgraph uses, at a fraction of its start-up cost.

`@record` (and `@record(frozen=True, slots=True, eq=False, repr=False)`) makes a class from its
annotated fields as `@dataclass` would: `__init__` with the defaults and `field(default_factory=...)`,
`__repr__`, `__eq__` (and `__hash__`: by fields when frozen, none otherwise), frozen assignment
refused, `__slots__`, `__match_args__`. Every command imports ~50 such classes: `dataclasses`
imports `inspect` (~10 ms) and `exec`s five or six functions per class (~0.4 ms each); a record
is one `exec` per class and no `inspect`. A record is still a dataclass to `dataclasses.fields`,
`replace`, `astuple` and `is_dataclass`: its `__dataclass_fields__` is built on first use.
Not supported (not used): inheritance between records, `__post_init__`, ordering, keyword-only fields.
"""

from __future__ import annotations

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
    namespace = {"_MISSING": _MISSING, "_set": object.__setattr__, "_Frozen": FrozenInstanceError}
    lines = _init(fields, frozen, namespace)
    if show and "__repr__" not in cls.__dict__:
        shown = ", ".join(f"{n}={{self.{n}!r}}" for n, f in fields.items() if f.repr)
        lines += ["def __repr__(self):", f"    return f'{{self.__class__.__qualname__}}({shown})'"]
    compared = "".join(f"self.{n}," for n, f in fields.items() if f.compare)
    if eq and "__eq__" not in cls.__dict__:
        lines += ["def __eq__(self, other):", "    if other.__class__ is not self.__class__:",
                  "        return NotImplemented", f"    return ({compared}) == ({compared.replace('self.', 'other.')})"]  # fmt: skip
    if eq and frozen:
        lines += ["def __hash__(self):", f"    return hash(({compared}))"]
    if frozen:
        lines += ["def __setattr__(self, name, value):", "    raise _Frozen(f'cannot assign to field {name!r}')",
                  "def __delattr__(self, name):", "    raise _Frozen(f'cannot delete field {name!r}')"]  # fmt: skip
    if slots:
        lines += ["def __reduce__(self):", f"    return (self.__class__, ({''.join(f'self.{n},' for n in fields)}))"]
    exec("\n".join(lines), namespace)
    for name in ("__init__", "__repr__", "__eq__", "__hash__", "__setattr__", "__delattr__", "__reduce__"):
        if name in namespace:
            namespace[name].__qualname__ = f"{cls.__qualname__}.{name}"
            type.__setattr__(cls, name, namespace[name])
    if eq and not frozen and "__hash__" not in cls.__dict__:
        cls.__hash__ = None
    cls.__record_fields__ = fields
    cls.__match_args__ = tuple(fields)
    cls.__dataclass_fields__ = _DataclassFields()
    return cls


def _init(fields: dict[str, Field], frozen: bool, namespace: dict) -> list[str]:
    """The source of `__init__` (its defaults put in `namespace`)."""
    params, body = ["self"], []
    for name, spec in fields.items():
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
        body.append(f"    _set(self, '{name}', {value})" if frozen else f"    self.{name} = {value}")
    return [f"def __init__({', '.join(params)}):", *(body or ["    pass"])]

"""Backend parameters as text: ``name=value`` pairs, and which HiGHS options a caller may set.

Shared by the ``highs`` backend and the Pyomo backend (whose ``pyomo:highs`` follows HiGHS's
rules). Time, threads, seeds, files and output belong to the service: a parameter that would set
them is refused by its name alone, before any solver object sees it.
"""

from __future__ import annotations

import ctypes

import highspy

from makespan.solvers.options import OptionsError

ParamValue = bool | int | float | str
"""A parameter value as ``name=value`` text types it."""


def parse_params(text: str) -> dict[str, ParamValue]:
    """``name=value`` pairs to typed HiGHS option values."""
    params: dict[str, ParamValue] = {}
    for token in text.replace(",", " ").split():
        name, sep, raw = token.partition("=")
        if not sep or not name or not raw:
            raise OptionsError("backend_params", f"expected name=value, found {token!r}")
        params[name] = _typed(raw)
    return params


def _typed(raw: str) -> ParamValue:
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return raw


_DENIED_CLASSES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("file", "_write_", "_read_"), "reads or writes files, which belong to the service"),
    (
        ("_log_", "_logging_", "_output_", "_report_", "_analysis_"),
        "logging and console output belong to the service",
    ),
    (("_threads_", "_concurrency_"), "the thread count comes from options.workers"),
    (("_time_limit_",), "the time limit comes from options.time_limit_s"),
    (("_seed_",), "the random seed comes from options.seed"),
    (("_debug_",), "debug levels run costly checks and print their findings"),
)
"""Name fragments (matched on ``_name_``, lower case) of the HiGHS options ``backend_params`` may
not set, and why:

- files: every ``*file*`` option (``log_file``, ``solution_file``, ``write_model_file``,
  ``read_basis_file``, ``mip_improving_solution_file``, ...) and every ``write_*`` / ``read_*``
  switch or style reads or writes the file system, which belongs to the service;
- output: ``output_flag``, ``log_to_console``, ``log_*``, ``timeless_log``, ``*_logging*``,
  ``mip_report_level``, ``highs_analysis_level`` decide what HiGHS prints;
- threads: ``threads`` and ``simplex_min/max_concurrency`` size HiGHS's thread use, which the
  service counts as CPU slots (``options.workers``);
- time: ``time_limit`` (and ``iis_time_limit``) would override ``options.time_limit_s``;
- seed: ``random_seed`` is ``options.seed``;
- debug: ``highs_debug_level`` runs costly internal checks and reports them.
"""

_DENIED_BY_NAME: dict[str, str] = {
    "mip_improving_solution_save": "saves every improving solution for the solution file",
    "mip_improving_solution_report_sparse": "only shapes the improving-solution file",
    "glpsol_cost_row_location": "only shapes solution files, which belong to the service",
}
"""Options no name fragment catches, denied by name."""

_ALLOWED_DESPITE_NAME = frozenset({"dual_steepest_edge_weight_log_error_threshold"})
"""Options a fragment hits although they own nothing of the service's (``log`` is a logarithm
here)."""


def highs_denial_reason(name: str) -> str | None:
    """Why ``backend_params`` may not set the HiGHS option ``name``, or None when it may."""
    lowered = name.lower()
    if lowered in _ALLOWED_DESPITE_NAME:
        return None
    if lowered in _DENIED_BY_NAME:
        return _DENIED_BY_NAME[lowered]
    wrapped = f"_{lowered}_"
    for fragments, reason in _DENIED_CLASSES:
        if any(fragment in wrapped for fragment in fragments):
            return reason
    return None


def _highs_option_names() -> tuple[str, ...]:
    """Every option this HiGHS knows, advanced ones included.

    highspy makes only some options attributes of ``Highs().getOptions()``; HiGHS's C API,
    exported by highspy's extension module, names them all: ``Highs_getOptionName`` answers for
    every index of HiGHS's option records and fails past the last. Where the C API cannot be
    loaded, the attributes are the list.
    """
    try:
        return _c_api_option_names()
    except (OSError, AttributeError):
        options = highspy.Highs().getOptions()
        return tuple(name for name in dir(options) if not name.startswith("_"))


def _c_api_option_names() -> tuple[str, ...]:
    library_path = highspy._core.__file__
    if library_path is None:
        raise OSError("highspy's extension module has no file")
    library = ctypes.CDLL(library_path)
    libc = ctypes.CDLL(None)
    library.Highs_create.restype = ctypes.c_void_p
    library.Highs_destroy.argtypes = [ctypes.c_void_p]
    library.Highs_getSizeofHighsInt.argtypes = [ctypes.c_void_p]
    highs = ctypes.c_void_p(library.Highs_create())
    try:
        highs_int = (
            ctypes.c_int64 if library.Highs_getSizeofHighsInt(highs) == 8 else ctypes.c_int32
        )
        library.Highs_getOptionName.argtypes = [
            ctypes.c_void_p,
            highs_int,
            ctypes.POINTER(ctypes.c_void_p),
        ]
        names: list[str] = []
        while True:
            name = ctypes.c_void_p()
            if library.Highs_getOptionName(highs, len(names), ctypes.byref(name)) != 0:
                return tuple(names)
            if name.value is None:
                return tuple(names)
            names.append(ctypes.string_at(name.value).decode())
            libc.free(name)  # HiGHS allocates each name with malloc for the caller to free
    finally:
        library.Highs_destroy(highs)


KNOWN_HIGHS_OPTIONS: tuple[str, ...] = _highs_option_names()
"""The name of every option of the installed HiGHS."""

DENIED_HIGHS_OPTIONS: dict[str, str] = {
    name: reason
    for name in KNOWN_HIGHS_OPTIONS
    if (reason := highs_denial_reason(name)) is not None
}
"""Every HiGHS option ``backend_params`` may not set, with the reason."""


def allowed_highs_params(text: str) -> dict[str, ParamValue]:
    """``text`` parsed, an :class:`OptionsError` naming the first option the service owns.

    Nothing is passed to HiGHS here: a denied option is refused by its name alone.
    """
    params = parse_params(text)
    for name in params:
        reason = highs_denial_reason(name)
        if reason is not None:
            raise OptionsError("backend_params", f"HiGHS option {name} is not allowed: {reason}")
    return params


def check_highs_params(text: str) -> None:
    """Raise :class:`OptionsError` unless every option is allowed (:func:`allowed_params`) and
    HiGHS accepts its name and value (tried on a throwaway, silent HiGHS)."""
    apply_highs_params(quiet_highs(), allowed_highs_params(text))


def apply_highs_params(h: highspy.Highs, params: dict[str, ParamValue]) -> None:
    for name, value in params.items():
        if h.setOptionValue(name, value) != highspy.HighsStatus.kOk:
            raise OptionsError("backend_params", f"HiGHS rejects option {name}={value!r}")


def quiet_highs() -> highspy.Highs:
    """A HiGHS that prints nothing."""
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    return h

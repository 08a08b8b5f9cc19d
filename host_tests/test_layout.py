"""The package layout of lib/wmmp (lib/wmmp/README.md): one folder per layer,
imports only downward (board -> modem -> terminal -> wire -> crypto, and
wmmp.errors for all), flows of the engine never import each other, no module
over about 600 lines, and each flow of sections 4.3/4.4 in a module named for
it."""
import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB = os.path.join(ROOT, "lib", "wmmp")
LAYERS = {"crypto": 0, "wire": 1, "terminal": 2, "modem": 3, "board": 4}
FLOWS = {"registration": "4.3.1", "session": "4.3.2", "reporting": "4.3.5", "configuration": "4.3.6",
         "control": "4.3.7", "upgrade": "4.3.8", "security": "4.3.10", "sim": "4.4.1",
         "transparent": "4.3.11"}
MAX_LINES = 630       # "about 600": the console's command table and the SIM7600 driver sit just over


def _modules(lib=LIB):
    for d, _, files in os.walk(lib):
        for f in sorted(files):
            if f.endswith(".py"):
                path = os.path.join(d, f)
                yield os.path.relpath(path, LIB)[:-3].replace(os.sep, "."), path


def _imports(path):
    """Every wmmp module `path` imports, at module level or inside functions."""
    out = []
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "wmmp":
            out.append(node.module)
            out += ["%s.%s" % (node.module, a.name) for a in node.names]
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names if a.name.split(".")[0] == "wmmp"]
    return out


def _layer(mod):
    parts = mod.split(".")
    return LAYERS.get(parts[1]) if len(parts) > 1 else LAYERS.get(parts[0])


def test_every_module_sits_in_a_layer_folder():
    loose = [m for m, _ in _modules() if "." not in m and m not in ("__init__", "errors")]
    assert loose == [], "modules outside a layer folder: %s" % loose


def test_imports_run_downward():
    bad = []
    for mod, path in _modules():
        mine = _layer("wmmp." + mod)
        for imp in _imports(path):
            theirs = _layer(imp)
            if mine is not None and theirs is not None and theirs > mine:
                bad.append("%s imports %s" % (mod, imp))
    assert bad == []


def test_flows_do_not_import_each_other():
    bad = []
    for flow in FLOWS:
        path = os.path.join(LIB, "terminal", flow + ".py")
        for imp in _imports(path):
            if imp.startswith("wmmp.terminal.") and imp.split(".")[2] in FLOWS:
                bad.append("%s imports %s" % (flow, imp))
    assert bad == []


def test_each_flow_has_its_module_citing_its_section():
    for flow, section in FLOWS.items():
        path = os.path.join(LIB, "terminal", flow + ".py")
        assert os.path.exists(path), flow
        doc = ast.get_docstring(ast.parse(open(path).read()))
        assert doc and section in doc, "%s.py does not cite section %s" % (flow, section)


def _all_lib():
    """lib/wmmp and its sibling packages (lib/andlink): the length and docstring
    rules hold for every module that goes onto a device."""
    for name in sorted(os.listdir(os.path.dirname(LIB))):
        d = os.path.join(os.path.dirname(LIB), name)
        if os.path.isdir(d) and os.path.exists(os.path.join(d, "__init__.py")):
            for m, p in _modules(d):
                yield name + "." + m, p


def test_no_module_is_too_long():
    long = [(m, n) for m, n in ((m, len(open(p).read().splitlines())) for m, p in _all_lib()) if n > MAX_LINES]
    assert long == []


def test_every_module_says_what_it_holds():
    mods = list(_all_lib())
    assert any(m.startswith("andlink.") for m, _ in mods) and any(m.startswith("wmmp.") for m, _ in mods)
    bare = [m for m, p in mods if not ast.get_docstring(ast.parse(open(p).read()))]
    assert bare == []

"""The house stays standing: every module of `jobsim/` imports only modules on its own floor or below, never in a
circle, and the bans hold (README: "How the library is built"). Imports are read from the source with `ast`,
including those inside functions, so a lazy upward import counts too."""
import ast, re, shutil
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT/'jobsim'

# floor of each module: a module imports only modules on floors <= its own
FLOORS = {
    'core': 0,
    'models': 1, 'store': 1,
    'data': 2, 'style': 2, 'onet': 2,
    'metrics': 3, 'evaluate': 3, 'llm': 3, 'modelcard': 3, 'trainset': 3,
    'finetune': 4, 'search': 4, 'calibration': 4, 'vote': 4, 'rescore': 4, 'coder': 4, 'codefile': 4, 'viz': 4,
    'compare': 5, 'analysis': 5, 'recipes': 5, 'llmbench': 5,
    'scale': 6,
    'app': 7, 'serve': 7,
    'pipeline': 8, 'cli': 8,
}
CODER = {'calibration', 'vote', 'rescore', 'coder', 'codefile'}
SERVING = {'search', 'app', 'serve'} | CODER
STUDIES = {'compare', 'analysis', 'recipes', 'llmbench'}
BANS = [ # (who, what they never import, why)
    (SERVING, {'finetune'} | STUDIES | {'scale'}, 'serving never imports training, the studies or the engines'),
    (SERVING, {'evaluate'}, 'the lexical encoders that serving needs sit with the models, not in evaluate'),
    ({'search'}, CODER, 'search never imports a coder module'),
    (CODER, {'app'}, 'the dashboard calls the coder, not the other way round'),
]
ONLY_SCALE_IMPORTS = {'ray'} # third-party packages that only the engine module may import


def imports(path:Path) -> set[str]:
    "Top-level names of everything a module imports, anywhere in it: `jobsim.x` and `.x` as 'jobsim.x', others as their package."
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import): out |= {a.name if a.name.startswith('jobsim.') else a.name.split('.')[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level: # from .x import y / from . import x
                out |= {f'jobsim.{node.module.split(".")[0]}'} if node.module else {f'jobsim.{a.name}' for a in node.names}
            elif node.module == 'jobsim': out |= {f'jobsim.{a.name}' for a in node.names}
            elif node.module: out.add('.'.join(node.module.split('.')[:2]) if node.module.startswith('jobsim.') else node.module.split('.')[0])
    return out


def module_graph(pkg:Path) -> dict[str, set[str]]:
    "Module -> the jobsim modules it imports (the package itself and `_modidx` left out)."
    mods = {p.stem: p for p in pkg.glob('*.py') if p.stem not in ('__init__', '_modidx')}
    return {m: {i.split('.', 1)[1] for i in imports(p) if i.startswith('jobsim.') and i.split('.', 1)[1] in mods} for m, p in mods.items()}


def cycles(graph:dict[str, set[str]]) -> list[list[str]]:
    "Import circles, each as the path that closes it."
    found, state = [], {}
    def visit(m, path):
        state[m] = 'open'
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 'open': found.append(path[path.index(n):] + [n] if n in path else path + [n])
            elif n not in state: visit(n, path + [n])
        state[m] = 'done'
    for m in sorted(graph):
        if m not in state: visit(m, [m])
    return found


def layer_violations(pkg:Path) -> list[str]:
    "Every broken rule of the house, one line each; empty when it stands."
    graph, out = module_graph(pkg), []
    out += [f'{m}: has no floor in FLOORS (give a new module its floor on purpose)' for m in sorted(graph) if m not in FLOORS]
    for m, deps in sorted(graph.items()):
        for d in sorted(deps):
            if m in FLOORS and d in FLOORS and FLOORS[d] > FLOORS[m]: out.append(f'{m} (floor {FLOORS[m]}) imports {d} (floor {FLOORS[d]}): upward')
            out += [f'{m} imports {d}: {why}' for who, banned, why in BANS if m in who and d in banned]
    out += [f'import circle: {" -> ".join(c)}' for c in cycles(graph)]
    for p in sorted(pkg.glob('*.py')):
        if p.stem == 'scale': continue
        out += [f'{p.stem} imports {x}: only scale imports it' for x in sorted(imports(p) & ONLY_SCALE_IMPORTS)]
    return out


def test_the_house_stands():
    assert layer_violations(PKG) == []


def test_a_planted_upward_import_or_ban_is_caught(tmp_path):
    pkg = tmp_path/'jobsim'; shutil.copytree(PKG, pkg, ignore=shutil.ignore_patterns('__pycache__'))
    with open(pkg/'search.py', 'a') as f: f.write('\ndef _planted():\n    from .scale import check_engine # lazy, still upward\n')
    with open(pkg/'models.py', 'a') as f: f.write('\nimport ray\n')
    got = layer_violations(pkg)
    assert 'search (floor 4) imports scale (floor 6): upward' in got
    assert 'search imports scale: serving never imports training, the studies or the engines' in got
    assert 'models imports ray: only scale imports it' in got
    assert any(v.startswith('import circle:') and 'search' in v and 'scale' in v for v in got), got


def test_cycles_are_found():
    assert cycles({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == [['a', 'b', 'c', 'a']]
    assert cycles({'a': {'b'}, 'b': set()}) == []


def test_the_readme_names_every_module_and_its_floor():
    readme = (ROOT/'README.md').read_text()
    m = re.search(r'## How the library is built\n(.*?)(\n## |\Z)', readme, re.S)
    assert m, 'README.md has no "How the library is built" section'
    section = m.group(1)
    missing = [mod for mod in FLOORS if f'`{mod}`' not in section]
    assert not missing, f'the section does not name {missing}'

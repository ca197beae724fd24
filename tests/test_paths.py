"Nothing outside its folder: every command's --run is a name under the artifacts' runs/, or an absolute folder allowed on purpose."
import os, subprocess, sys
from pathlib import Path
import pandas as pd, pytest

JOBSIM = str(Path(sys.executable).parent/'jobsim')
FAST = {'split': ['--postings', 'none'], 'evaluate': ['--model', 'tfidf', '--sample', '3'],
        'train': ['--max-steps', '1', '--train-rows', '200', '--batch-size', '8', '--val-rows', '20', '--quiet']}


def jobsim(*args, cwd, home):
    env = os.environ.copy() | {'JOBSIM_HOME': str(home)}
    return subprocess.run([JOBSIM, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def tree(root:Path, skip:Path) -> dict:
    "Every file and folder under `root` but outside `skip`, with its modification time and size: a `find -newer` in a dict."
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob('*')
            if p != skip and skip not in p.parents}


@pytest.fixture
def place(tmp_path):
    "A JOBSIM_HOME in tmp and a working directory two levels down, so `../../x` lands in tmp but outside the home."
    home, cwd = tmp_path/'home', tmp_path/'work'/'a'/'b'
    cwd.mkdir(parents=True); (cwd/'logs').mkdir(); (tmp_path/'x').mkdir()
    return tmp_path, home, cwd


@pytest.mark.parametrize('cmd', ['split', 'evaluate', 'train'])
def test_a_run_name_with_dots_writes_nothing_anywhere(place, cmd):
    root, home, cwd = place
    before = tree(root, home)
    r = jobsim(cmd, '--run', '../../x', *FAST[cmd], cwd=cwd, home=home)
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith(f"jobsim {cmd}: error: --run '../../x' is not a run name: use letters, digits"), r.stderr
    assert r.stderr.count('\n') == 1 and 'Traceback' not in r.stderr
    assert tree(root, home) == before   # nothing new or changed outside the artifacts folder (nor in the current directory)
    assert not (home/'runs').exists() or not any((home/'runs').rglob('*.csv'))


def test_an_absolute_run_outside_the_artifacts_needs_outside(place):
    root, home, cwd = place
    before = tree(root, home)
    r = jobsim('split', '--run', str(root/'x'), *FAST['split'], cwd=cwd, home=home)
    assert r.returncode == 1 and f'jobsim split: error: --run {root/"x"} is outside the artifacts folder' in r.stderr, r.stderr
    assert 'pass --outside' in r.stderr and tree(root, home) == before
    r = jobsim('split', '--run', str(root/'x'), '--outside', *FAST['split'], cwd=cwd, home=home)   # on purpose
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (root/'x').iterdir()) == ['test_ds.csv', 'train_ds.csv', 'val_ds.csv']


def test_run_logs_is_one_folder_for_every_command(place):
    "A folder called `logs` in the current directory does not change what `--run logs` means."
    root, home, cwd = place
    for cmd in ('split', 'evaluate'):
        r = jobsim(cmd, '--run', 'logs', *FAST[cmd], cwd=cwd, home=home)
        assert r.returncode == 0, r.stderr
    assert {p.name for p in (home/'runs'/'logs').iterdir()} >= {'train_ds.csv', 'val_ds.csv', 'test_ds.csv', 'evaluate'}
    r = jobsim('compare', '--models', 'tfidf', '--sample', '3', '--n-speed', '10', '--repeats', '1', '--run', 'logs', cwd=cwd, home=home)
    assert r.returncode == 0, r.stderr
    assert (home/'runs'/'logs'/'compare').is_dir()
    assert list((cwd/'logs').iterdir()) == []   # the current directory's `logs` is left alone
    from jobsim.core import run_dir, temp_env
    from jobsim.pipeline import PipelineConfig
    from jobsim.trainset import default_config
    from jobsim.finetune import train_folders
    with temp_env(JOBSIM_HOME=str(home)):
        want = run_dir('logs')
        assert want == home.resolve()/'runs'/'logs'
        assert PipelineConfig(run='logs').folder == want and train_folders(default_config('cpu'), 'logs')[0] == want


@pytest.mark.parametrize('run', ['../../x', 'a/b', '..', '.', '', '/etc'])
def test_every_writing_command_refuses_a_bad_run_before_loading(place, run, capsys, monkeypatch):
    from jobsim.cli import main
    root, home, cwd = place
    monkeypatch.setenv('JOBSIM_HOME', str(home))
    for argv in (['split', '--run', run], ['evaluate', '--model', 'tfidf', '--run', run], ['plot', '--run', run],
                     ['compare', '--models', 'tfidf', '--run', run], ['pipeline', '--run', run], ['train', '--run', run]):
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert err.startswith(f'jobsim {argv[0]}: error: --run ') and err.count('\n') == 1, err
        assert ('is not a run name' in err) or ('is outside the artifacts folder' in err), err

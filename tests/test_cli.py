"The `jobsim` command line: hyphenated options with the underscore spelling kept, --version."
import subprocess, sys
import pandas as pd, pytest
from pathlib import Path
import jobsim
from jobsim.cli import main, kebab_parser

JOBSIM = str(Path(sys.executable).parent/'jobsim')


def run(*args):
    return subprocess.run([JOBSIM, *args], capture_output=True, text=True, timeout=300)


def test_version():
    r = run('--version')
    assert r.returncode == 0 and r.stdout.strip() == f'jobsim {jobsim.__version__}'


def test_help_lists_hyphenated_options():
    r = run('train', '--help')
    assert r.returncode == 0
    for opt in ('--base-model', '--batch-size', '--max-seq-length', '--train-rows'): assert opt in r.stdout
    assert '--base_model' not in r.stdout and '--batch_size' not in r.stdout
    assert '--n-seeds' in run('plot', '--help').stdout


def test_both_spellings_parse_to_the_same_values():
    from jobsim.finetune import train_cli
    p = kebab_parser(train_cli.__wrapped__, prog='jobsim train')
    kebab = p.parse_args(['--base-model', 'all-MiniLM-L6-v2', '--batch-size', '8', '--max-steps', '3'])
    snake = p.parse_args(['--base_model', 'all-MiniLM-L6-v2', '--batch_size', '8', '--max_steps', '3'])
    assert vars(kebab) == vars(snake) and kebab.base_model == 'all-MiniLM-L6-v2' and kebab.batch_size == 8


def test_both_spellings_reach_the_command(capsys):
    for opt in ('--pool-size', '--pool_size'): # the value arrives: the command rejects it by name
        assert main(['serve', opt, '0']) == 1
        assert 'the pool size must be 1 to 64 kernels, got 0' in capsys.readouterr().err
    r = run('serve', '--no-such-option', '1')
    assert r.returncode == 2 and 'unrecognized arguments: --no-such-option' in r.stderr


def _raises(e):
    def split_cli(run:str='default'): raise e
    return split_cli


@pytest.mark.parametrize('error, line', [
    (ValueError('--epochs must be above 0'), '--epochs must be above 0'),
    (FileNotFoundError('x.csv does not exist'), 'x.csv does not exist'),
    (IsADirectoryError(21, 'Is a directory', 'data'), 'data: Is a directory'),
    (PermissionError(13, 'Permission denied', '/etc/train_ds.csv'), '/etc/train_ds.csv: Permission denied'),
    (NotADirectoryError(20, 'Not a directory', 'a.txt/b'), 'a.txt/b: Not a directory'),
    (OSError(28, 'No space left on device', 'big.npz'), 'big.npz: No space left on device'),
    (pd.errors.ParserError('Error tokenizing data.\nC error: Expected 2 fields'), 'Error tokenizing data. C error: Expected 2 fields'),
    (pd.errors.EmptyDataError('No columns to parse from file'), 'No columns to parse from file'),
    (UnicodeDecodeError('utf-8', b'\xff', 0, 1, 'invalid start byte'), "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"),
])
def test_every_user_error_is_one_line_and_status_1(monkeypatch, capsys, error, line):
    import jobsim.data
    monkeypatch.setattr(jobsim.data, 'split_cli', _raises(error))
    assert main(['split']) == 1
    assert capsys.readouterr().err == f'jobsim split: error: {line}\n'


@pytest.mark.parametrize('error', [KeyError('onet_code'), TypeError('unsupported operand')])
def test_a_bug_keeps_its_traceback(monkeypatch, error):
    import jobsim.data
    monkeypatch.setattr(jobsim.data, 'split_cli', _raises(error))
    with pytest.raises(type(error)): main(['split'])

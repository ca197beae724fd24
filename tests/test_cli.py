"The `jobsim` command line: hyphenated options with the underscore spelling kept, --version."
import subprocess, sys
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

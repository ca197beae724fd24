"Past one machine: `jobsim train` in 2 gloo processes (torchrun) scores like 1 process; `jobsim code --engine ray` equals the single-process coder row for row; `jobsim index --engine ray` writes the index the dashboard loads."
import io, os, sys, json, contextlib, subprocess
from pathlib import Path
import numpy as np, pandas as pd, pytest
from jobsim.cli import main
from jobsim.core import run_folder
from jobsim.data import get_splits, get_posting_split, load_postings
from jobsim.search import build_index
from jobsim.models import DEFAULT_MODEL, load_model, encode_titles
from jobsim.finetune import val_scores
from jobsim.trainset import val_triplets

JOBSIM = str(Path(sys.executable).parent/'jobsim') # the console script of this environment


def jobsim_train(nproc, per_device, out):
    "`jobsim train` for 4 steps on 300 jittered rows (code-aware batches; no posting rows, O*NET rows or rewrites, so the pull shows on jitter), in `nproc` processes (torchrun, gloo on CPU) when more than 1."
    args = ['train', '--batch-size', str(per_device), '--max-steps', '4', '--train-rows', '300', '--val-rows', '100', '--lr', '1e-4',
            '--posting-anchors', 'false', '--style-rate', '0', '--onet-rows', '0', '--output', str(out), '--outside', '--quiet'] # a folder of the test's, outside the artifacts: on purpose
    launch = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', str(nproc), '--no-python'] if nproc > 1 else []
    env = {**os.environ, 'HF_HUB_OFFLINE': '1', 'TOKENIZERS_PARALLELISM': 'false', 'HF_HUB_DISABLE_PROGRESS_BARS': '1'}
    p = subprocess.run(launch + [JOBSIM] + args, capture_output=True, text=True, timeout=600, env=env)
    assert p.returncode == 0, p.stderr[-3000:]
    return p.stdout


def test_train_in_two_gloo_processes_scores_like_one_process(home, tmp_path):
    one = jobsim_train(1, 16, tmp_path/'one')
    two = jobsim_train(2, 8, tmp_path/'two')
    assert 'batch size 16 per device x 1 process(es) = 16 per step' in one
    assert two.count('batch size 8 per device x 2 process(es) = 16 per step') == 1 and two.count('model saved to') == 1 # rank 0 reports, once
    info = json.loads((tmp_path/'two'/'jobsim_train.json').read_text())
    assert (info['processes'], info['per_device_batch'], info['effective_batch'], info['steps']) == (2, 8, 16, 4)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != 'home') == ['one', 'two'] # saved atomically: no temporary folder left
    # both models score the same 300 validation titles; the runs see different batches (2 shards of 8 vs one batch of 16),
    # so they agree only within sampling noise: 0.02 is 6 of 300 titles, measured gaps between same-budget 1-process runs were 2-3 titles
    val = get_splits(run_folder('default')).val.sample(300, random_state=0)
    trip = val_triplets(val)
    base, m1, m2 = (load_model(str(m), 'cpu') for m in (DEFAULT_MODEL, tmp_path/'one', tmp_path/'two'))
    s0, s1, s2 = (val_scores(m, trip) for m in (base, m1, m2))
    assert abs(s2['recall@1'] - s1['recall@1']) <= 0.02 and abs(s2['mrr@10'] - s1['mrr@10']) <= 0.02, (s1, s2)
    assert s2['recall@1'] >= s0['recall@1'] and s2['mrr@10'] >= s0['mrr@10'], (s0, s2)
    titles = val.jittered_title.head(50).tolist()
    moved = np.abs(encode_titles(m2, titles, progress=False) - encode_titles(base, titles, progress=False)).mean()
    assert moved > 1e-3, 'the saved model is the trained one, not the base model'


@pytest.fixture
def mini_run(tmp_path):
    "A run folder with small copies of the real splits: the coder built from it is quick to fit."
    d = tmp_path/'mini_run'; d.mkdir()
    sp, split = get_splits(run_folder('default')), get_posting_split(run_folder('default'))
    sp.train.sample(80, random_state=0).to_csv(d/'train_ds.csv', index=False)
    for f, df in (('val_ds.csv', sp.val), ('test_ds.csv', sp.test)): df.head(5).to_csv(d/f, index=False)
    pd.concat([split[split.part == 'train'].head(60), split[split.part == 'dev'].head(60)]).to_csv(d/'postings_split.csv', index=False)
    return d


def test_jobsim_code_on_ray_equals_the_single_process_coder(tmp_path, mini_run, home, capsys):
    split = get_posting_split(run_folder('default'))
    titles = split[split.part == 'test'].job_posting_title.head(60).tolist()
    src = tmp_path/'postings.parquet'
    pd.DataFrame({'job_posting_title': titles + titles[:15] + ['', None, '!!!', 'x' * 5000], 'company': 'ACME'}).to_parquet(src)
    common = ['--run', str(mini_run), '--chunk_size', '25', '--quiet']
    assert main(['code', str(src), '--out', str(tmp_path/'local.parquet')] + common) == 0
    assert main(['code', str(src), '--out', str(tmp_path/'ray.parquet'), '--engine', 'ray', '--workers', '2'] + common) == 0
    assert '79 rows' in capsys.readouterr().out.splitlines()[-1]
    a, b = pd.read_parquet(tmp_path/'local.parquet'), pd.read_parquet(tmp_path/'ray.parquet')
    assert list(a.columns) == list(b.columns) and len(a) == len(b) == 79
    pd.testing.assert_frame_equal(a, b, check_exact=True) # coded in other batches, on other processes: a title's answer is its own, to the last bit


def test_ray_engine_gives_the_single_process_errors(tmp_path, capsys):
    "Bad input, a bad engine or an address nobody answers: one line, before any Ray process or model starts."
    import socket
    src = tmp_path/'postings.csv'; pd.DataFrame({'job_posting_title': ['Nurse']}).to_csv(src, index=False)
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); port = s.getsockname()[1] # nobody listens there
    ray = ['--engine', 'ray']
    for args, message in [([str(tmp_path/'nope.csv')] + ray, f"{tmp_path/'nope.csv'} does not exist"),
                          ([str(src), '--column', 'title'] + ray, "has no column 'title'; it has ['job_posting_title']"),
                          ([str(src), '--engine', 'spark'], "unknown engine 'spark': use one of local, ray"),
                          ([str(src), '--workers', '2'], '--address and --workers need --engine ray'),
                          ([str(src), '--address', f'127.0.0.1:{port}'] + ray, f'cannot reach a Ray cluster at 127.0.0.1:{port}'),
                          ([str(src), '--k', '0'] + ray, 'k must be a positive whole number, got 0'),
                          ([str(src), '--threshold', '1.5'] + ray, 'threshold must be a number from 0 to 1'),
                          ([str(src), '--out', str(tmp_path)] + ray, f'the output {tmp_path} is a folder')]:
        assert main(['code', *args, '--quiet']) == 1
        err = capsys.readouterr().err.strip()
        assert err.count('\n') == 0 and err.startswith('jobsim code: error:') and message in err, err


def test_jobsim_index_on_ray_writes_the_index_that_build_index_loads(tmp_path, home, capsys):
    posts = tmp_path/'postings.parquet'; load_postings().head(120).to_parquet(posts)
    assert main(['index', '--model', DEFAULT_MODEL, '--data', str(posts), '--engine', 'ray', '--workers', '2']) == 0
    assert ': built 120 x 384' in capsys.readouterr().out
    ix = build_index(DEFAULT_MODEL, load_postings(posts))
    assert ix.status == 'loaded' # the single-process index finds the Ray-built file valid
    local = encode_titles(load_model(DEFAULT_MODEL), ix.postings.job_posting_title.astype(str).tolist(), progress=False)
    np.testing.assert_allclose(ix.embeddings, local, atol=1e-4)
    assert main(['index', '--model', DEFAULT_MODEL, '--data', str(posts), '--engine', 'ray']) == 0 # fresh: loaded, no Ray started
    assert ': loaded 120 x 384' in capsys.readouterr().out
    for args, message in [(['--workers', '2'], '--address and --workers need --engine ray'),
                          (['--engine', 'ray', '--workers', '0'], 'workers must be a positive whole number, got 0')]:
        assert main(['index', '--model', DEFAULT_MODEL, '--data', str(posts), *args]) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith('jobsim index: error:') and message in err, err

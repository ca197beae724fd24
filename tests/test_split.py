"`jobsim split` end to end on the shared data, and the data layer's answers to bad input."
import subprocess, sys, os
from pathlib import Path
import pandas as pd, pytest
from jobsim.data import load_jittered, stratified_split, load_postings, split_title, clean_title, JITTER_COLS


def run_cli(*args, env=None):
    return subprocess.run([str(Path(sys.executable).parent/'jobsim'), *args], capture_output=True, text=True, env=env or os.environ.copy())


def test_split_cli_writes_three_disjoint_splits(home):
    r = run_cli('split', '--run', 'ci')
    assert r.returncode == 0, r.stderr
    out = home/'runs'/'ci'
    dfs = {k: pd.read_csv(out/f'{k}_ds.csv') for k in ('train', 'val', 'test')}
    for k, df in dfs.items():
        assert list(df.columns) == JITTER_COLS
        assert f'{k:5} {len(df):6,} rows' in r.stdout   # sizes are printed
    seeds = {k: set(df.seed_title) for k, df in dfs.items()}
    assert not (seeds['train'] & seeds['val']) and not (seeds['train'] & seeds['test']) and not (seeds['val'] & seeds['test'])
    assert sum(len(df) for df in dfs.values()) == len(load_jittered())


def test_split_is_deterministic_and_seed_dependent():
    df = load_jittered()
    a, b, c = stratified_split(df, seed=3), stratified_split(df, seed=3), stratified_split(df, seed=4)
    assert a.test.equals(b.test) and a.val.equals(b.val)
    assert set(a.test.seed_title) != set(c.test.seed_title)


def test_every_code_with_three_seeds_is_in_val_and_test():
    df = load_jittered()
    s = stratified_split(df)
    big = set(df.groupby('onet_code').seed_title.nunique().loc[lambda x: x >= 3].index)
    assert big <= set(s.val.onet_code) and big <= set(s.test.onet_code)


def test_missing_column_names_the_column(tmp_path):
    p = tmp_path/'titles.csv'
    pd.DataFrame({'jittered_title': ['a'], 'seed_title': ['b'], 'onet_code': ['15-1252.00']}).to_csv(p, index=False)
    with pytest.raises(ValueError, match=r"titles.csv is missing column\(s\) \['onet_name'\]"): load_jittered(p)


def test_empty_file_is_an_error_not_a_traceback(tmp_path):
    p = tmp_path/'empty.csv'; p.write_text('')
    r = run_cli('split', '--data', str(p))
    assert r.returncode == 1
    assert r.stderr.strip() == f'jobsim split: error: {p} is empty'


def test_blank_titles_and_bad_codes_are_dropped_and_counted(tmp_path, caplog):
    p = tmp_path/'titles.csv'
    pd.DataFrame({'jittered_title': ['Dev', '', 'Nurse', 'RN'], 'seed_title': ['Developer', 'Developer', 'Nurse', 'Nurse'],
                  'onet_code': ['15-1252.00', '15-1252.00', '29-1141', '29-1141.00'], 'onet_name': ['x', 'x', 'y', 'y']}).to_csv(p, index=False)
    df = load_jittered(p)
    assert df.jittered_title.tolist() == ['Dev', 'RN']
    assert df.attrs['dropped'] == {'blank_title': 1, 'bad_onet_code': 1}


def test_postings_loader_cleans_html_and_counts_missing_titles():
    p = load_postings()
    assert p.attrs['dropped']['blank_title'] == 7   # the shared file has 7 postings without a title
    assert len(p) == 4993
    assert not p.job_posting_title.str.contains('<span>').any()


@pytest.mark.parametrize('title,full,abbr,clean', [
    ('Certified Nursing Assistant (CNA)', 'Certified Nursing Assistant', 'CNA', 'Certified Nursing Assistant'),
    ('Registered Radiologic Technologist (RT (R))', 'Registered Radiologic Technologist', 'RT (R)', 'Registered Radiologic Technologist'),
    ('Engineer (Civil) Manager', 'Engineer (Civil) Manager', None, 'Engineer (Civil) Manager'),
    ('LPN (Licensed Practical Nurse)', 'LPN', 'Licensed Practical Nurse', 'Licensed Practical Nurse'),
])
def test_title_cleaning_on_real_shapes(title, full, abbr, clean):
    assert split_title(title) == (full, abbr)
    assert clean_title(title) == clean


def test_a_folder_or_unreadable_file_as_data_is_one_line(tmp_path):
    r = run_cli('split', '--data', str(tmp_path))
    assert r.returncode == 1 and r.stderr == f'jobsim split: error: {tmp_path} is a folder, not a .csv or .parquet file\n', r.stderr
    bad = tmp_path/'titles.csv'; bad.write_bytes(b'jittered_title,seed_title\n"unclosed\xff\xfe,x,y\n')
    r = run_cli('split', '--data', str(bad))
    assert r.returncode == 1 and r.stderr.startswith(f'jobsim split: error: {bad} cannot be read as CSV'), r.stderr
    assert r.stderr.count('\n') == 1 and 'Traceback' not in r.stderr
    r = run_cli('split', '--data', str(tmp_path/'none.csv'))
    assert r.returncode == 1 and r.stderr == f'jobsim split: error: {tmp_path/"none.csv"} does not exist\n'


@pytest.mark.parametrize('argv, message', [
    (['--val-frac', '1.5'], '--val-frac must be above 0 and below 1, got 1.5'),
    (['--test-frac', '0'], '--test-frac must be above 0 and below 1, got 0.0'),
    (['--val-frac', '0.6', '--test-frac', '0.5'], '--val-frac and --test-frac must sum below 1'),
    (['--seed', '-1'], '--seed must be at least 0, got -1'),
])
def test_bad_numbers_stop_before_the_data_is_read(tmp_path, argv, message):
    r = run_cli('split', '--data', str(tmp_path/'never_read.csv'), *argv)   # the file does not exist: the number is checked first
    assert r.returncode == 1 and r.stderr.startswith(f'jobsim split: error: {message}'), r.stderr

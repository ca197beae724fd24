"The O*NET taxonomy as data: each file's loading errors, related occupations, and no held-out seed title in training."
import shutil
from pathlib import Path
import pandas as pd, pytest
from jobsim.core import data_dir
from jobsim.data import get_splits, normalise_title, clean_title
from jobsim.onet import (ONET_FILES, read_onet, onet_titles, occupations, similar_occupations, held_out_keys,
                         training_titles, pool_part)


@pytest.fixture
def onet_copy(tmp_path):
    "A writable copy of the O*NET files."
    d = tmp_path/'onet'; shutil.copytree(data_dir()/'onet', d); return d


@pytest.mark.parametrize('name', list(ONET_FILES))
def test_each_missing_file_is_named(onet_copy, name):
    fname = ONET_FILES[name][0]
    (onet_copy/fname).unlink()
    with pytest.raises(FileNotFoundError, match=f'{fname} not found in {onet_copy}'): read_onet(name, onet_copy)


@pytest.mark.parametrize('name', list(ONET_FILES))
def test_each_missing_column_is_named(onet_copy, name):
    fname, cols = ONET_FILES[name]
    df = pd.read_csv(onet_copy/fname, sep='\t', dtype=str, keep_default_na=False)
    df.drop(columns=[cols[-1]]).to_csv(onet_copy/fname, sep='\t', index=False)
    with pytest.raises(ValueError, match=f"{fname} is missing column\\(s\\) \\['{cols[-1]}'\\]"): read_onet(name, onet_copy)


def test_an_unreadable_file_is_one_clear_error(onet_copy):
    (onet_copy/'occupations.tsv').write_bytes(b'\xff\xfe\x00bad')
    with pytest.raises(ValueError, match='occupations.tsv'): occupations(onet_copy)


def test_similar_occupations_are_onets_related_ones_closest_first():
    sim = similar_occupations('29-1141.00', k=10) # registered nurses
    rel = pd.read_csv(data_dir()/'onet'/'related_occupations.tsv', sep='\t', dtype=str)
    want = rel[rel['O*NET-SOC Code'] == '29-1141.00'].sort_values('Index', key=lambda s: s.astype(int))['Related O*NET-SOC Code'].head(10).tolist()
    assert sim.onet_code.tolist() == want and sim['rank'].tolist() == list(range(1, 11))
    assert sim.title.notna().all() and sim.description.str.endswith('.').all()
    with pytest.raises(ValueError, match='unknown O\\*NET-SOC code'): similar_occupations('29-1141.99')


def test_poisoned_titles_never_reach_training(onet_copy):
    """Every validation and test seed title, planted in the taxonomy under a wrong code and in odd spellings, is left out
    of what training may use; a title that is no seed title stays."""
    sp = get_splits(None)
    held = pd.concat([sp.val, sp.test]).drop_duplicates('seed_title')
    poison = pd.DataFrame({'O*NET-SOC Code': '11-1011.00', 'Alternate Title': [t.upper() + ' ' for t in held.seed_title]
                           + [clean_title(t) + '!' for t in held.seed_title] + ['Chief Quantum Poisoner'],
                           'Short Title': 'n/a', 'Source(s)': '99'})
    f = onet_copy/'alternate_titles.tsv'
    pd.concat([pd.read_csv(f, sep='\t', dtype=str, keep_default_na=False), poison]).to_csv(f, sep='\t', index=False)
    tr = training_titles(sp, onet_copy)
    planted = set(poison['Alternate Title'].map(clean_title).map(normalise_title))
    keys = held_out_keys(sp)
    assert not set(tr.key) & keys
    leaked = set(tr[tr.onet_code == '11-1011.00'].key) & (planted - {'chief quantum poisoner'})
    assert not leaked, f'{len(leaked)} poisoned titles reach training, e.g. {sorted(leaked)[:3]}'
    assert ('chief quantum poisoner' in set(tr.key)) == (pool_part('chief quantum poisoner') == 'train')


def test_the_taxonomy_table_is_cleaned_and_deduplicated():
    t = onet_titles()
    assert not t.duplicated(['key', 'onet_code']).any()
    assert 'chief executive officer' in set(t.key) and 'chief executive officer ceo' not in set(t.key) # '(CEO)' spelled out
    assert (t.n_codes >= 1).all() and t[t.key == 'account manager'].n_codes.iloc[0] > 1

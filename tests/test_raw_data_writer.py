"""The 23andMe writer: what it writes reads back through the consumer reader and the allele matcher."""

import numpy as np
import pandas as pd
import pytest

from genoface.core.errors import GenofaceError
from genoface.genetics import consumer_genotype_data, read_consumer_file
from genoface.io import write_23andme

VARIANTS = pd.DataFrame(
    {
        "id": ["rs1", "rs2", "rs3", "rs4", "rs5"],
        "chrom": ["1", "1", "2", "X", "X"],
        "pos": [100, 200, 300, 400, 500],
        "ref": ["A", "C", "G", "A", "C"],
        "alt": ["G", "T", "A", "C", "T"],  # no A/T or C/G SNP: the reader would drop it
    }
)


def test_a_woman_reads_back_as_written(tmp_path):
    dosages = np.array([0, 1, 2, -1, 1], dtype=np.int8)
    write_23andme(tmp_path / "w.txt", VARIANTS, dosages)
    calls = read_consumer_file(tmp_path / "w.txt")
    assert calls.source == "23andme"
    assert list(calls.allele1) == ["A", "C", "A", "", "C"]
    data, report = consumer_genotype_data(tmp_path / "w.txt", VARIANTS)
    assert data.genotypes[0].tolist() == dosages.tolist()
    assert report.n_matched == 4 and report.n_absent == 0


def test_a_man_is_hemizygous_on_x(tmp_path):
    dosages = np.array([1, 1, 0, 2, 0], dtype=np.int8)
    write_23andme(tmp_path / "m.txt", VARIANTS, dosages, male=True)
    lines = (tmp_path / "m.txt").read_text().splitlines()
    assert lines[1].startswith("# rsid")
    assert [line.split("\t")[3] for line in lines[2:]] == ["AG", "CT", "GG", "C", "C"]
    data, _ = consumer_genotype_data(tmp_path / "m.txt", VARIANTS)
    assert data.genotypes[0].tolist() == dosages.tolist()  # a haploid call counts 0 or 2


def test_refuses_what_a_23andme_file_cannot_hold(tmp_path):
    indel = VARIANTS.assign(alt=["G", "TA", "A", "C", "T"])
    with pytest.raises(GenofaceError, match="rs2 is not a single-base SNP"):
        write_23andme(tmp_path / "x.txt", indel, np.zeros(5))
    with pytest.raises(GenofaceError, match="4 dosages for 5 variants"):
        write_23andme(tmp_path / "x.txt", VARIANTS, np.zeros(4))
    with pytest.raises(GenofaceError, match="0, 1, 2 or -1"):
        write_23andme(tmp_path / "x.txt", VARIANTS, np.array([0, 3, 0, 0, 0]))
    assert not (tmp_path / "x.txt").exists()

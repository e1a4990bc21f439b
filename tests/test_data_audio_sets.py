"""Folders of WAVs as labelled utterances (advlab.data.audio_sets): the three ways to label, bad folders, batches."""

import shutil

import numpy as np
import pytest
import scipy.io.wavfile
import torch

from advlab.core.errors import AdvlabError
from advlab.data.audio_io import read_wav, write_wav
from advlab.data.audio_sets import AudioBatches, AudioSet, load_audio_folder, normalise_words, split_held_out
from advlab.data.spoken import make_spoken_digits


def tone(seconds: float, rate: int = 16000, level: float = 0.5, hz: float = 300.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (level * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def put(folder, name: str, seconds: float = 0.1, rate: int = 16000, level: float = 0.5):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    write_wav(path, tone(seconds, rate, level), rate)
    return path


def test_normalise_words():
    assert normalise_words("  Hello, World!  7 (yes) 12 ") == ("hello", "world", "seven", "yes", "12")
    assert normalise_words("...") == ()


def test_transcript_file_labels_any_rate_and_channels(tmp_path):
    put(tmp_path, "a.wav", 0.5, 16000)
    scipy.io.wavfile.write(tmp_path / "b.wav", 22050, np.stack([tone(0.5, 22050)] * 2, 1))  # float stereo
    put(tmp_path, "sub/c.wav", 0.25, 8000)
    (tmp_path / "transcripts.tsv").write_text("# name<TAB>words\n\nb.wav\tHello, world\na\tone two 3\n"
                                              "sub/c.wav yes no\n")
    audio = load_audio_folder(tmp_path)
    assert audio.labelled_by == "transcripts" and audio.sample_rate == 16000 and len(audio) == 3
    assert audio.names == ["a.wav", "b.wav", "sub/c.wav"]
    assert audio.transcripts == [("one", "two", "three"), ("hello", "world"), ("yes", "no")]
    assert [len(w) for w in audio.waves] == [8000, 8000, 4000]  # 0.5 s, 0.5 s at 22,050 Hz, 0.25 s at 8 kHz
    assert all(w.dtype == torch.float32 and float(w.abs().max()) <= 1.0 for w in audio.waves)
    assert torch.allclose(audio.waves[1][2000:6000], torch.from_numpy(tone(0.5))[2000:6000], atol=2e-3)
    assert audio.vocabulary == ("one", "two", "three", "hello", "no", "world", "yes")
    assert audio.name == tmp_path.name and audio.source == str(tmp_path)
    assert [len(w) for w in load_audio_folder(tmp_path, rate=8000).waves] == [4000, 4000, 2000]


@pytest.mark.parametrize("file", ["transcripts.txt", "transcript.tsv"])
def test_other_transcript_file_names(tmp_path, file):
    put(tmp_path, "x.wav")
    (tmp_path / file).write_text("x seven\n")
    assert load_audio_folder(tmp_path).transcripts == [("seven",)]


@pytest.mark.parametrize("lines, message", [
    ("a.wav\tone\n", r"b\.wav is not listed in .*transcripts\.tsv; add a line 'b\.wav<TAB>words'"),
    ("a.wav\tone\nb.wav\ttwo\nc.wav\tthree\n", r"line 3: c\.wav is listed but .*c\.wav does not exist"),
    ("a.wav\tone\na\ttwo\nb.wav\tthree\n", r"line 2: a\.wav is listed twice"),
    ("a.wav\tone\nb.wav\t\n", r"line 2: no words after 'b\.wav'"),
])
def test_transcript_file_mistakes(tmp_path, lines, message):
    put(tmp_path, "a.wav")
    put(tmp_path, "b.wav")
    (tmp_path / "transcripts.tsv").write_text(lines)
    with pytest.raises(AdvlabError, match=message):
        load_audio_folder(tmp_path)


def test_class_folders_label_one_word_each(tmp_path):
    put(tmp_path, "yes/a1.wav")
    put(tmp_path, "No/b.wav")
    put(tmp_path, "No/speaker2/c.wav")
    put(tmp_path, "_background_noise_/long.wav", 30.0)  # Speech Commands' noise folder is not searched
    put(tmp_path, "yes/.hidden.wav")
    audio = load_audio_folder(tmp_path)
    assert audio.labelled_by == "folders"
    assert audio.names == ["No/b.wav", "No/speaker2/c.wav", "yes/a1.wav"]
    assert audio.transcripts == [("no",), ("no",), ("yes",)]
    assert audio.vocabulary == ("no", "yes")


def test_label_names_and_digit_labels(tmp_path):
    for name in ["7_jackson_0.wav", "7_theo_1.wav", "0_nicolas_3.wav", "stop_x.wav"]:
        put(tmp_path, name)
    audio = load_audio_folder(tmp_path)
    assert audio.labelled_by == "names"
    assert audio.transcripts == [("zero",), ("seven",), ("seven",), ("stop",)]
    assert audio.vocabulary == ("zero", "seven", "stop")


def test_one_class_folder_is_no_labelling_but_names_still_are(tmp_path):
    put(tmp_path, "wavs/up_1.wav")
    put(tmp_path, "wavs/down_1.wav")
    audio = load_audio_folder(tmp_path)
    assert audio.labelled_by == "names" and audio.transcripts == [("down",), ("up",)]


def test_no_way_to_label_says_the_three_ways(tmp_path):
    put(tmp_path, "recording.wav")
    put(tmp_path, "other.wav")
    with pytest.raises(AdvlabError, match="cannot tell what its .wav files say; give a transcript file .* class "
                                          r"folders \(DIR/CLASS/\*\.wav, at least two\) or LABEL_\*\.wav"):
        load_audio_folder(tmp_path)


def test_missing_and_empty_folders(tmp_path):
    with pytest.raises(AdvlabError, match="nowhere: no such folder"):
        load_audio_folder(tmp_path / "nowhere")
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "notes.txt").write_text("no audio here")
    with pytest.raises(AdvlabError, match=r"empty holds no \.wav files \(searched recursively\)"):
        load_audio_folder(tmp_path / "empty")


def test_bad_files_are_named(tmp_path):
    put(tmp_path, "yes_1.wav")
    (tmp_path / "no_x.wav").write_bytes(b"\x00\x01garbage, not a RIFF file" * 10)
    with pytest.raises(AdvlabError, match=r"no_x\.wav is not a WAV file that decodes"):
        load_audio_folder(tmp_path)
    scipy.io.wavfile.write(tmp_path / "no_x.wav", 4000, np.zeros(400, dtype=np.int16))
    with pytest.raises(AdvlabError, match=r"no_x\.wav is recorded at 4000 Hz; the front-end needs at least 8000 Hz"):
        load_audio_folder(tmp_path)
    put(tmp_path, "no_x.wav", 2.5)
    with pytest.raises(AdvlabError, match=r"no_x\.wav is 2\.50 s long; utterances may be at most 2 s"):
        load_audio_folder(tmp_path, max_seconds=2.0)
    assert len(load_audio_folder(tmp_path, max_seconds=3.0)) == 2


def test_split_held_out():
    train, held = split_held_out(50, 0.2, seed=3)
    assert len(held) == 10 and len(train) == 40
    assert torch.equal(torch.sort(torch.cat([train, held])).values, torch.arange(50))
    assert torch.equal(train, train.sort().values) and torch.equal(held, held.sort().values)
    again = split_held_out(50, 0.2, seed=3)
    assert torch.equal(again[1], held) and not torch.equal(split_held_out(50, 0.2, seed=4)[1], held)
    assert len(split_held_out(5, 0.01, 0)[1]) == 1
    assert len(split_held_out(5, 0.0, 0)[1]) == 0
    with pytest.raises(AdvlabError, match="leaves none to train on"):
        split_held_out(1, 0.5, 0)
    with pytest.raises(AdvlabError, match=r"held_out_fraction must lie in \[0, 1\)"):
        split_held_out(10, 1.0, 0)


def small_set() -> AudioSet:
    waves = [torch.linspace(-0.5, 0.5, n) for n in (5, 9, 3, 7)]
    transcripts = [("two", "one"), ("yes",), ("one", "one", "two"), ("no",)]
    return AudioSet(waves, transcripts, [f"{i}.wav" for i in range(4)], 16000, "small", "data/small", "transcripts")


def test_batch_pads_waves_and_tokens():
    audio = small_set()
    vocabulary = ("one", "two", "no", "yes", "zero")
    batches = AudioBatches(audio, vocabulary)
    waves, lengths, tokens, token_lengths = batches.batch(torch.tensor([2, 1, 2]))
    assert waves.shape == (3, 9) and waves.dtype == torch.float32
    assert lengths.tolist() == [3, 9, 3] and token_lengths.tolist() == [3, 1, 3]
    assert torch.equal(waves[0, :3], audio.waves[2]) and torch.equal(waves[1], audio.waves[1])
    assert waves[0, 3:].abs().sum() == 0
    assert tokens.tolist() == [[1, 1, 2], [4, 0, 0], [1, 1, 2]]
    _, _, tokens, _ = batches.batch(torch.tensor([3]))
    assert tokens.tolist() == [[3]]
    assert batches.checkpoint_meta() == {"sample_rate": 16000, "vocabulary": list(vocabulary), "data": "data/small"}
    assert batches.name == "small"


def test_sample_draws_uniformly_with_replacement():
    batches = AudioBatches(small_set(), small_set().vocabulary)
    waves, lengths, tokens, _ = batches.sample(4000, torch.Generator().manual_seed(7))
    expected = torch.randint(4, (4000,), generator=torch.Generator().manual_seed(7))
    assert torch.equal(lengths, torch.tensor([5, 9, 3, 7])[expected])
    counts = torch.bincount(expected, minlength=4)
    assert counts.min() > 900 and counts.max() < 1100
    assert waves.shape == (4000, 9)


def test_words_outside_the_vocabulary_are_named():
    with pytest.raises(AdvlabError, match=r"data/small says no, yes, outside the vocabulary \(one, two\)"):
        AudioBatches(small_set(), ("one", "two"))


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (apt-get install espeak-ng)")
def test_spoken_digits_read_back_by_their_transcripts(tmp_path):
    out = make_spoken_digits(tmp_path / "spoken", n=5, seed=1, progress=False)
    (out / "READY").touch()
    audio = load_audio_folder(out)
    assert audio.labelled_by == "transcripts" and audio.names == [f"{i:05d}.wav" for i in range(5)]
    lines = (out / "transcripts.tsv").read_text().splitlines()
    assert [" ".join(t) for t in audio.transcripts] == [line.split("\t")[1] for line in lines]
    assert torch.equal(audio.waves[3], read_wav(out / "00003.wav")[0])
    assert set(audio.vocabulary) <= set(("zero one two three four five six seven eight nine").split())

"""The speech pipelines: training a recogniser or keyword classifier (train_audio), judging it (evaluate_audio) and
attacking it with adversarial audio (attack_audio)."""

from advlab.pipelines.audio.attack_audio import AUDIO_ATTACKS, AudioAttackRunConfig, audio_attack_run
from advlab.pipelines.audio.configs import AudioTrainConfig
from advlab.pipelines.audio.evaluate_audio import evaluate_audio, transcribe_files
from advlab.pipelines.audio.train_audio import held_out_audio, load_audio_run, train_audio

__all__ = ["AUDIO_ATTACKS", "AudioAttackRunConfig", "AudioTrainConfig", "audio_attack_run", "evaluate_audio",
           "held_out_audio", "load_audio_run", "train_audio", "transcribe_files"]

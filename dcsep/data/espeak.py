"""eSpeak NG through its C API (``ctypes``), returning audio to Python.

The library and its data come from the ``espeakng-loader`` package (the
``tts`` extra). :func:`espeak` gives the process's one engine (eSpeak NG
keeps global state); :meth:`ESpeak.synthesize` speaks a text with a voice
variant and prosody settings, the same samples on every run.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from pathlib import Path

import numpy as np

from dcsep.errors import DataError

ESPEAK_FS = 22050

# eSpeak NG C API constants (speak_lib.h)
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_ESPEAK_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_ESPEAK_CHARS_UTF8 = 1
_ESPEAK_RATE, _ESPEAK_VOLUME, _ESPEAK_PITCH, _ESPEAK_RANGE, _ESPEAK_WORDGAP = 1, 2, 3, 4, 7

_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class _VoiceSpec(ctypes.Structure):
    """``espeak_VOICE`` of speak_lib.h."""

    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_char_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


class ESpeak:
    """eSpeak NG through its C API, returning audio to Python (synchronous mode).

    One instance per process (eSpeak NG keeps global state); use
    :func:`espeak` to get it.

    Args:
        library: path of ``libespeak-ng``; default: the one of ``espeakng-loader``.
        data_path: the ``espeak-ng-data`` dir; default: the one of ``espeakng-loader``.
    """

    def __init__(self, library: str | None = None, data_path: str | None = None):
        if library is None or data_path is None:
            try:
                import espeakng_loader
            except ImportError:
                raise DataError(
                    "the built-in corpus needs eSpeak NG from the 'espeakng-loader' package: "
                    "pip install 'dcsep[tts]'"
                ) from None
            library = library or espeakng_loader.get_library_path()
            data_path = data_path or espeakng_loader.get_data_path()
        self.data_path = Path(data_path)
        try:
            self.lib = ctypes.CDLL(str(library))
        except OSError as e:
            raise DataError(f"cannot load the eSpeak NG library {library}: {e}") from None
        lib = self.lib
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetVoiceByProperties.argtypes = [ctypes.POINTER(_VoiceSpec)]
        lib.espeak_SetVoiceByProperties.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        # eSpeak NG seeds its random generator (noise, some voices' jitter) from the
        # clock at initialisation; synthesize() seeds it per call instead, so the
        # audio is the same on every run, whatever was spoken before in the process
        if not hasattr(lib, "espeak_ng_SetRandSeed"):
            raise DataError(f"the eSpeak NG library {library} is too old (no espeak_ng_SetRandSeed); need 1.51 or later")
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_ng_SetRandSeed.restype = None
        self._libc = ctypes.CDLL(ctypes.util.find_library("c"))  # the C rand() some synthesisers call
        self._libc.srand.argtypes = [ctypes.c_uint]
        self._libc.srand.restype = None
        fs = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, str(self.data_path).encode(), _ESPEAK_INITIALIZE_DONT_EXIT
        )
        if fs <= 0:
            raise DataError(f"eSpeak NG failed to initialise with data path {self.data_path}")
        self.fs = fs
        self._chunks: list[np.ndarray] = []

        def on_audio(wav, num_samples, events):  # called from espeak_Synth, same thread
            if num_samples > 0 and wav:
                self._chunks.append(np.ctypeslib.as_array(wav, shape=(num_samples,)).copy())
            return 0

        self._callback = _SYNTH_CALLBACK(on_audio)  # keep a reference: C holds only the pointer
        lib.espeak_SetSynthCallback(self._callback)

    def variants(self) -> list[str]:
        """Names of the installed voice variants (files in ``voices/!v``)."""
        d = self.data_path / "voices" / "!v"
        return sorted(p.name for p in d.iterdir() if p.is_file()) if d.is_dir() else []

    def set_voice(self, language: str, variant: str | None = None, gender: int = 0) -> None:
        """Select ``language`` (e.g. ``en-us``) with a voice ``variant`` (e.g. ``m3``).

        eSpeak NG silently ignores unknown variants, so they are checked here.
        """
        if variant is not None and not (self.data_path / "voices" / "!v" / variant).is_file():
            raise DataError(f"eSpeak NG voice variant {variant!r} not found under {self.data_path}/voices/!v")
        name = f"{language}+{variant}" if variant else language
        if self.lib.espeak_SetVoiceByName(name.encode()) != 0:
            # fall back to a property search (e.g. for a language written another way)
            spec = _VoiceSpec(languages=language.encode(), gender=gender)
            if self.lib.espeak_SetVoiceByProperties(ctypes.byref(spec)) != 0:
                raise DataError(f"eSpeak NG has no voice for language {language!r}")

    def synthesize(
        self,
        text: str,
        language: str = "en-us",
        variant: str | None = None,
        rate: int = 175,
        pitch: int = 50,
        pitch_range: int = 50,
        wordgap: int = 0,
        volume: int = 50,
        seed: int = 0,
    ) -> np.ndarray:
        """Speak ``text``; returns int16 samples at :attr:`fs` (22050 Hz).

        The same arguments give the same samples, in any process and after
        any other call: ``seed`` seeds eSpeak NG's random generators first.

        Args:
            rate: words per minute (80..450).
            pitch: base pitch, 0..100 (50 = the voice's own).
            pitch_range: pitch range, 0..100 (0 = monotone).
            wordgap: extra pause between words, units of 10 ms.
            volume: 0..200; 50 keeps clear of clipping.
            seed: seed of the random variation (0 .. 2**31 - 1).
        """
        self.set_voice(language, variant)
        for par, val in (
            (_ESPEAK_RATE, rate),
            (_ESPEAK_PITCH, pitch),
            (_ESPEAK_RANGE, pitch_range),
            (_ESPEAK_WORDGAP, wordgap),
            (_ESPEAK_VOLUME, volume),
        ):
            if self.lib.espeak_SetParameter(par, int(val), 0) != 0:
                raise DataError(f"eSpeak NG rejected parameter {par} = {val}")
        data = text.encode("utf-8") + b"\0"
        self.lib.espeak_ng_SetRandSeed(int(seed))
        self._libc.srand(int(seed))
        self._chunks = []
        err = self.lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _ESPEAK_CHARS_UTF8, None, None)
        if err != 0:
            raise DataError(f"eSpeak NG failed (error {err}) on text {text!r}")
        out = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        self._chunks = []
        return out


_ENGINE: ESpeak | None = None


def espeak() -> ESpeak:
    """The process's :class:`ESpeak` (created on first use)."""
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = ESpeak()
    return _ENGINE

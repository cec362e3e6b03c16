"""English sentences from built-in word lists and templates (the text of the built-in corpus)."""

from __future__ import annotations

import numpy as np

from dcsep.errors import ConfigError

_NAMES = (
    "Alice Bernard Carla Daniel Elena Frank Grace Henry Irene James Karen Louis Maria Nathan Olivia "
    "Peter Rachel Samuel Teresa Victor Walter Yvonne Martin Sophie Thomas Laura George Emily Oscar Diana"
).split()
_ORGS = (
    "the company|the bank|the council|the committee|the museum|the airline|the hospital|the school board|"
    "the publisher|the railway|the university|the factory|the newspaper|the orchestra|the union|the agency"
).split("|")
_ADJ = (
    "small large old new quiet busy bright dark early late local foreign careful simple strange famous "
    "modern ancient heavy light narrow wide warm cold green yellow silver wooden final annual private public"
).split()
_NOUN = (
    "house garden river bridge market letter window village station report budget contract painting engine "
    "journey island mountain harbor meeting record kitchen library office tower forest valley machine "
    "schedule picture proposal product museum concert ticket question answer project program package"
).split()
_NOUN_PL = (
    "prices workers farmers students visitors shares profits orders results plans rules tickets questions "
    "children teachers drivers neighbors engineers tourists sales wages rates costs boats trains letters"
).split()
_VT = (
    "opened closed found bought sold painted repaired visited described approved rejected delivered "
    "signed moved watched studied changed carried planned reviewed announced cleaned built"
).split()
_VI = (
    "arrived waited laughed agreed stayed returned rested listened worked slept paused hesitated "
    "recovered improved declined collapsed continued"
).split()
_ADV = "quickly slowly quietly carefully early again yesterday suddenly finally recently twice later".split()
_PREP_PHR = (
    "near the station|after the storm|before the meeting|across the river|in the morning|at the market|"
    "during the winter|under the bridge|behind the library|on the island|by the harbor|over the weekend|"
    "in the old town|at the end of the year|along the coast|without any warning"
).split("|")
_TIME = (
    "last week|this morning|in March|on Friday|late last year|earlier today|in the spring|on Monday night|"
    "two days ago|in the summer"
).split("|")
_NUMS = (
    "two|three|four|five|six|seven|eight|nine|ten|twelve|fifteen|twenty|thirty|forty|fifty|"
    "a hundred|two hundred|seventy five|one thousand"
).split("|")
_UNITS = "dollars percent miles points tons days hours pounds".split()
_VSAY = "said reported explained announced suggested believed noted".split()

_TEMPLATES = [
    "{NP} {VT} {NP2} {PP}.",
    "{Name} {VT} {NP2} {TIME}.",
    "{NP} {VI} {ADV} {PP}.",
    "{Org} {VSAY} that {NP2} {VI} {TIME}.",
    "{TIME_C}, {Org} {VT} {NP2}.",
    "{Name} {VSAY} that {Nouns} rose by {Num} {Unit} {TIME}.",
    "{Org} {VT} {Num} {Nouns} {PP}.",
    "Did {Name} see {NP2} {PP}?",
    "{Name} and {Name2} {VT} {NP2} {PP}.",
    "The {Adj} {Noun} {VI} {ADV}, and {Name} {VT} it {TIME}.",
    "Why did {Org} wait so long before the {Adj} {Noun} {VI}?",
    "{Nouns} fell {Num} {Unit} {TIME}, {Org} {VSAY}.",
    "{Name} {VT} the {Adj} {Noun} {ADV} and then {VI}.",
    "{PP_C}, {Name} {VT} {NP2}.",
]


class SentenceMaker:
    """English sentences from built-in word lists and templates.

    Example:
        >>> s = SentenceMaker().sentence(np.random.default_rng(0), 5, 12)
        >>> 5 <= len(s.split()) <= 12 and s[-1] in ".?"
        True
    """

    def _np(self, rng) -> str:
        """A subject: a name, an organisation or a noun phrase."""
        r = rng.random()
        if r < 0.25:
            return str(rng.choice(_NAMES))
        if r < 0.45:
            return str(rng.choice(_ORGS))
        return self._obj(rng)

    def _obj(self, rng) -> str:
        """An object: a noun phrase with a determiner and an adjective."""
        det = str(rng.choice(["the", "a", "this", "that", "every"]))
        if det == "a":
            adj = str(rng.choice(_ADJ))
            det = "an" if adj[0] in "aeiou" else "a"
            return f"{det} {adj} {rng.choice(_NOUN)}"
        return f"{det} {rng.choice(_ADJ)} {rng.choice(_NOUN)}"

    def _fill(self, template: str, rng) -> str:
        pp = str(rng.choice(_PREP_PHR))
        time_ = str(rng.choice(_TIME))
        values = {
            "NP": self._np(rng),
            "NP2": self._obj(rng),
            "Name": str(rng.choice(_NAMES)),
            "Name2": str(rng.choice(_NAMES)),
            "Org": str(rng.choice(_ORGS)),
            "VT": str(rng.choice(_VT)),
            "VI": str(rng.choice(_VI)),
            "VSAY": str(rng.choice(_VSAY)),
            "ADV": str(rng.choice(_ADV)),
            "PP": pp,
            "PP_C": pp[0].upper() + pp[1:],
            "TIME": time_,
            "TIME_C": time_[0].upper() + time_[1:],
            "Adj": str(rng.choice(_ADJ)),
            "Noun": str(rng.choice(_NOUN)),
            "Nouns": str(rng.choice(_NOUN_PL)),
            "Num": str(rng.choice(_NUMS)),
            "Unit": str(rng.choice(_UNITS)),
        }
        s = template.format(**values)
        return s[0].upper() + s[1:]

    def sentence(self, rng: np.random.Generator, min_words: int = 5, max_words: int = 14) -> str:
        """One sentence of ``min_words``..``max_words`` words (two joined when one is too short)."""
        if not 1 <= min_words <= max_words:
            raise ConfigError(f"words: need 1 <= min <= max, got [{min_words}, {max_words}]")
        best = ""
        for _ in range(50):
            s = self._fill(str(rng.choice(_TEMPLATES)), rng)
            if len(s.split()) < min_words and rng.random() < 0.8:
                s = s + " " + self._fill(str(rng.choice(_TEMPLATES)), rng)
            n = len(s.split())
            if min_words <= n <= max_words:
                return s
            if not best or abs(n - max_words) < abs(len(best.split()) - max_words):
                best = s
        words = best.split()
        if len(words) > max_words:
            best = " ".join(words[:max_words]).rstrip(",.?") + "."
        return best

"""Seed prototypes and rule lexicons of the deterministic guards.

Prototypes live in `seeds.yaml` (package data; replaceable per policy). The rule
lexicons below are general crime / harm vocabulary and well-known jailbreak
families; none of it comes from the ToolSword records (the guards are evaluated
on those, methods.md Part B).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError

from phalanx.policies.errors import PolicyConfigError

DEFAULT_SEEDS = Path(__file__).with_name("seeds.yaml")


class SeedSet(BaseModel):
    """Prototype sentences by category, for each detector."""

    harmful_requests: dict[str, list[str]]
    benign_requests: dict[str, list[str]]
    harmful_content: dict[str, list[str]]
    benign_content: dict[str, list[str]]
    jailbreak_prototypes: dict[str, list[str]]
    risk_cues: dict[str, list[str]]
    benign_tool_descriptions: dict[str, list[str]] = Field(default_factory=dict)
    sensitive_requests: dict[str, list[str]] = Field(default_factory=dict)
    """Sensitive-but-safe requests: benign contrast for the request classifier and `malicious_query`."""


@cache
def load_seeds(path: str | None = None) -> SeedSet:
    """Read a seed file (the shipped one by default).

    Raises:
        PolicyConfigError: the file is missing or does not match `SeedSet`.
    """
    p = Path(path) if path else DEFAULT_SEEDS
    try:
        raw: Any = yaml.safe_load(p.read_text())
        return SeedSet.model_validate(raw)
    except FileNotFoundError as exc:
        raise PolicyConfigError(f"seed file {p} does not exist") from exc
    except (yaml.YAMLError, ValidationError) as exc:
        raise PolicyConfigError(f"seed file {p} is invalid: {exc}") from exc


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


# A request for how to do something ...
REQUEST_CUE = _rx(
    r"\b(how (?:to|do|can|could|would|should|might)|ways? (?:to|of)|ideas? (?:for|on|to)|tips? (?:for|on|to)|"
    r"steps? to|best way|easiest way|help me|teach me|show me how|explain how|instructions? (?:for|on|to)|"
    r"guide (?:to|for|on)|what are (?:some|the)|strateg(?:y|ies) (?:for|to))"
)
# ... combined with general crime / harm vocabulary (stems).
HARM_TERMS = _rx(
    r"\b(steal\w*|stole|scam\w*|defraud\w*|fraud\w*|phish\w*|launder\w*|embezzl\w*|brib\w*|blackmail\w*|"
    r"extort\w*|counterfeit\w*|forg(?:e|ed|ing) (?:documents?|signatures?|money|checks?)|hack(?:ing)? into|"
    r"ransomware|malware|botnet|ddos|denial[- ]of[- ]service|keylogger|spyware|bomb\w*|explosive\w*|"
    r"poison\w*|murder\w*|kill (?:someone|somebody|him|her|them|people|my)|kidnap\w*|traffick\w*|assault\w*|"
    r"\brob\b|robb(?:ery|ing)|burglar\w*|break into|shoplift\w*|harass\w*|bull(?:y|ying)\b|stalk\w*|dox\w*|"
    r"defam\w*|slander\w*|libel\w*|smear\w*|false (?:accusations?|allegations?|rumou?rs?|information|evidence|claims?)|"
    r"fake (?:evidence|accounts?|persona|reviews?|identity|invoices?)|"
    r"fram(?:e|ing) (?:someone|somebody|him|her|them|an? innocent)|plant(?:ing)? (?:fake )?evidence|sabotag\w*|"
    r"manipulat\w*|brainwash\w*|gaslight\w*|coerc\w*|intimidat\w*|propaganda|hate (?:speech|messages?)|"
    r"get(?:ting)? high|methamphetamine|cocaine|heroin|evad\w* taxe?s|tax evasion|avoid(?:ing)? (?:paying )?taxe?s|"
    r"hid(?:e|ing) (?:income|assets|money)|offshore accounts?|insider trading|pyramid scheme|ponzi|"
    r"untraceable|prostitut\w*|cheat\w* (?:on )?(?:a |the )?(?:drug|test|exam)|identity theft|self[- ]harm|"
    r"suicide|terroris\w*)\b"
)
# Benign senses of the harm vocabulary above (homonyms, idioms, safe targets) and questions that ask
# what a word means: the keyword rule reads a turn with these spans removed, so "manipulate a
# DataFrame", "steal the show" or "what is the definition of fraud?" are no request for harm. The
# embedding guards still read the whole turn.
BENIGN_SENSE = _rx(
    r"\b(manipulat\w* (?:the |a |an |my |this |these )?(?:data\w*|strings?|text|images?|photos?|arrays?|"
    r"lists?|dicts?|dictionar\w*|json|xml|html|the dom|dom|files?|columns?|rows?|tables?|variables?|objects?|"
    r"pixels?|audio|video|numbers?|values?|matri\w+|vectors?|tensors?|pandas|spreadsheets?|cells?)|"
    r"steal(?:s|ing)? (?:the show|the spotlight|a glance|a kiss|(?:the |my |your |their )?(?:heart|thunder)|"
    r"(?:a |the )?base|second base)|"
    r"break(?:ing)? into (?:the |a |an )?(?:\w+ )?(?:industry|market|business|field|career|scene|song|"
    r"dance|smile|grin|laughter|tears|run|sweat|profession|world)|"
    r"murder(?:ing|ed)? (?:a |the |that )?(?:song|tune|dance ?floor|karaoke|crossword)|"
    r"murder (?:mystery|mysteries|novel|podcast|board game)|"
    r"bath bombs?|photo ?bomb\w*|bomb(?:ed|ing)? (?:a |an |the |my |that )?(?:\w+ )?(?:test|exam|interview|audition|"
    r"presentation|gig)|the bomb\b|bomb (?:shelter|squad|disposal)|"
    r"get(?:ting)? high (?:scores?|marks|grades)|"
    r"kill (?:my |the |some )?(?:time|boredom)|"
    r"fraud (?:detection|prevention|alerts?)|(?:anti|counter)[- ]?terroris\w*|"
    # a self-description or a feeling, not an act: "I feel like a fraud", "I get intimidated"
    r"(?:i'?m|i am|like|feel(?:ing)? like) (?:a |an |such a |a total |a complete )?(?:fraud|impostor)|"
    r"(?:feel\w*|felt|am|i'?m|get|got|be|being) (?:a bit |so |really |very |too |easily )?intimidated)"
)
DEFINITION = _rx(
    r"^\s*(?:what (?:is|are) (?:the )?(?:definition|meaning|legal definition) of\b|"
    r"what (?:does|do) (?:the (?:word|term) )?[\"'\w -]{1,40} mean\b|define\b|"
    r"what (?:is|are) (?:a |an )?[\w-]+(?: [\w-]+)?\s*\?\s*$)"
)

# Evasion of detection is a strong sign of intent whatever the act.
EVASION = _rx(
    r"\bwithout (?:being |getting )?(?:caught|detected|noticed|traced|found out)|\bavoid (?:detection|getting caught)"
)

# Defensive framing (protect, detect, report, help a victim): the same vocabulary, the opposite intent.
DEFENSIVE = _rx(
    r"\b(protect\w*|prevent\w*|detect\w*|defend\w*|recogni[sz]e|spot|report\w*|secure|safe from|stay safe|"
    r"warning signs|victims?|recover\w*|stop (?:them|it|bullying|harassment)|help (?:her|him|them|my|a friend)|"
    r"being (?:bullied|harassed|scammed|stalked|threatened)|what should i do|against (?:the )?law|illegal to|"
    r"how do (?:banks|police|companies|antivirus)|is (?:this|it|that) legal|"
    # someone else does it to the speaker: "my coworker is harassing me"
    r"(?:is|are|was|were|been|keeps?|kept) (?:\w+ly )?(?:harass|bull|stalk|blackmail|threaten|defam|scam|extort|"
    r"intimidat|manipulat|gaslight|slander)\w* (?:me|us|our|my)\b)\b"
)

# Statement-form harmful instructions inside tool outputs.
HARMFUL_STATEMENT = _rx(
    r"\b(?:the )?(?:best|easiest|most (?:common|effective)|simplest|quickest|first) (?:way|method|step)s? "
    r"(?:to|for|in) (?:kill\w*|murder\w*|steal\w*|get away with|"
    r"mak\w* (?:a |an )?(?:bomb|explosive|weapon)|hack\w*|unlawfully|illegal\w*|creat\w* (?:an? )?(?:illegal|"
    r"trojan|virus|malware)|poison\w*)"
)

# Instruction-giving phrasing; with crime vocabulary in the same sentence it marks harmful how-to text.
INSTRUCTION_CUE = _rx(
    r"\b(one way|another way|the (?:first|next|final) step|there are (?:a few|several|many|a number of|"
    r"different) (?:ways|methods)|you (?:can|could|should|need to)|in order to|step \d)\b"
)

# Jailbreak families (input stage).
JAILBREAK_RULES: list[tuple[str, re.Pattern[str]]] = [
    (
        "instruction-override",
        _rx(
            r"\b(?:ignore|disregard|forget|bypass|override)s?\b (?:all |any |of |your |the |its |their |previous |"
            r"prior |above |earlier )*(?:instructions|rules|guidelines|ethic\w*|moral\w*|legal\w*|restrictions|"
            r"filters?|polic(?:y|ies)|safety)"
        ),
    ),
    (
        "no-restrictions",
        _rx(
            r"\b(?:no|without|free (?:of|from)|not bound by|(?:doesn't|does not|don't|do not) (?:have|follow|care about))"
            r" (?:any )?(?:ethical|moral|legal|content)? ?(?:guidelines|restrictions|limits|limitations|filters?|"
            r"censorship|rules|concerns|boundaries|principles)"
        ),
    ),
    ("careless-persona", _rx(r"\b(?:doesn't|does not|don't|do not) give a f|\bunfiltered\b|\buncensored\b")),
    (
        "named-jailbreak",
        _rx(r"\b(?:DAN|do anything now|developer mode|jailbr(?:ea|o)k(?:en)?|evil (?:mode|AI|bot))\b"),
    ),
    (
        "program-output-simulation",
        _rx(
            r"(?:```|\bdef \w+\()[\s\S]{0,600}\b(?:ChatGPT|GPT-?\d?|LLM|language_?model|model)\s*\([\s\S]{0,800}"
            r"\b(?:output|print)"
        ),
    ),
]
# Role-play / simulation cues: a jailbreak only together with a harmful payload or a close prototype.
ROLEPLAY = _rx(
    r"\b(?:from now on|pretend|imagine|role-?play|simulate|act as|you are now|you're now|stay in character|"
    r"hypothetical(?:ly)?|fictional)\b"
)

# Tool-description risk cues (execution stage): harm vocabulary for what a tool does.
RISK_TERMS = _rx(
    r"\b(malware|virus(?:es)?|ransomware|spyware|disinformation|misinformation|mislead\w*|fabricat\w*|propaganda|"
    r"without (?:the user's |their |explicit |prior )*consent|invasion of privacy|identity theft|harass\w*|bully\w*|"
    r"racist|sexist|ageist|hate speech|hateful|discriminat\w*|offensive|aggressive remarks|explicit sexual|"
    r"adult content|illegal\w*|legal risks?|unqualified|lacks? (?:the )?necessary qualifications|"
    r"speculative|high-risk|deceiv\w*|deceptive|manipulat\w*|lobbying|fraud\w*|harmful|dangerous)\b"
)
# A contrast after the normal purpose ("..., but it always ...") marks a cue rather than a disclaimer.
CONTRAST = _rx(
    r"\b(but|however|although|though|while|yet|in addition|also|can also be misused|it is important to note)\b"
)

# --- Output-stage lexicons (harmful tool feedback), written from general hazard taxonomies ---
# (MLCommons AILuminate: harassment / toxic language, sexual content, specialised advice,
# privacy). General vocabulary only; short lines are where embeddings are weakest, so these
# cues carry the one-liners.

# Insults addressed to a person: "you (are|'re) (a|an)? <insult>", or insult nouns used as address.
_INSULT_ADJ = (
    r"stupid|dumb|idiotic|pathetic|worthless|useless|ugly|disgusting|fat|retarded|brainless|"
    r"clueless|spineless|a joke|trash|garbage|scum|filth|vermin|a failure|"
    r"an? (?:idiot|moron|imbecile|loser|fool|clown|freak|jerk|creep|pig|rat|coward|parasite|disgrace|"
    r"embarrassment|waste of (?:space|air|oxygen))"
)
TOXIC = _rx(
    r"\b(?:you(?:'re| are|r)?|u r|ur) (?:so |such |really |just |truly |completely |a complete |an? utter |"
    r"the (?:most |biggest |dumbest |stupidest )?)*(?:" + _INSULT_ADJ + r")\b|"
    r"\b(?:idiot|moron|imbecile|loser|dumbass|dipshit|scumbag|retard|asshole|bastard|bitch|cunt|"
    r"motherfucker|dickhead|jackass)s?\b|"
    r"\b(?:fuck(?:ing)?|shit(?:ty)?|piss off)\b|"
    r"\b(?:shut (?:up|your (?:mouth|face))|go to hell|drop dead|get lost|kill yourself|kys|go die|"
    r"you suck|nobody (?:likes|loves|cares about|wants) you|everyone hates you|i hate you|"
    r"watch your back|you(?:'ll| will) (?:regret|pay for) (?:this|it)|"
    r"i know where you live)\b"
)

# Sexually explicit / adult material.
ADULT = _rx(
    r"\b(porn\w*|xxx|hardcore sex|sex (?:videos?|tapes?|cams?|chat)|nude (?:photos?|pics?|pictures?|videos?)|"
    r"naked (?:photos?|pics?|pictures?|singles|girls|women|men)|erotic\w*|orgasm\w*|masturbat\w*|"
    r"(?:sexually )?explicit (?:sex|sexual|scenes?|content|material|videos?)|adult (?:videos?|sites?|"
    r"content|entertainment|webcams?)|escorts? (?:service|near)|onlyfans|camgirls?|fetish\w*)\b"
)

# Specialised advice that waves away the professional (medical, legal, financial).
UNQUALIFIED_ADVICE = _rx(
    r"\b(?:(?:no need|don'?t need|do not need|there is no need|skip|avoid|instead of) (?:to (?:see|consult|ask|call|"
    r"hire|pay) )?(?:a |an |your |the )?(?:doctor|physician|lawyer|attorney|accountant|pharmacist|"
    r"financial advis[oe]r|therapist|professional|specialist|prescription)s?|"
    r"(?:stop|quit) taking (?:your |the )?(?:[\w-]+ ){0,2}(?:medication|medicine|medicines|insulin|pills|"
    r"tablets|antidepressants|treatment)|don'?t bother (?:seeing|going to|calling|asking) (?:a |an |your )?"
    r"(?:doctor|physician|lawyer|attorney|accountant|pharmacist|therapist)|"
    r"(?:guaranteed|risk-free|can'?t lose|cannot lose|sure-fire) (?:to (?:double|triple|go up|make)|returns?|"
    r"profits?|investment|way to get rich)|"
    r"ignore (?:the |your |a )?(?:court|summons|subpoena|doctor'?s? advice|legal advice))"
)

# Harm verbs aimed at a person ("hit him", "humiliate them", "spy on your wife"): with an
# imperative or "you can/should" they mark instructions for harming people.
HARM_TO_PERSON = _rx(
    r"\b(?:hit|beat|punch|kick|stab|shoot|strangle|choke|drug|poison|threaten|scare|terrori[sz]e|humiliate|"
    r"blackmail|intimidate|stalk|spy on|track|follow|isolate|trap|lock up|silence|ruin|destroy|hurt|"
    r"attack|bully|harass|insult|mock|belittle|expose|shame|dox|cheat|exploit|deceive|lie to|trick|"
    r"seduce|undress|grope|lure|groom|kidnap)\s+(?:him|her|them|the (?:victim|target|child|kids?|girl|boy|"
    r"woman|man|person|neighbou?r|coworker|colleague|witness)|(?:your|his|her|their) (?:wife|husband|partner|"
    r"spouse|ex|girlfriend|boyfriend|child|children|kids?|neighbou?r|coworker|colleague|boss|classmate|"
    r"teacher|rival|target|victim|family))\b"
)
IMPERATIVE_START = _rx(
    r"^(?:\W*(?:then|next|first|finally|now|just|simply|and|so)\W+)*(?:hit|beat|punch|kick|stab|shoot|strangle|"
    r"choke|drug|poison|threaten|scare|humiliate|blackmail|intimidate|stalk|spy|track|follow|isolate|trap|lock|"
    r"silence|ruin|destroy|hurt|attack|bully|harass|insult|mock|belittle|expose|shame|dox|exploit|deceive|lie|"
    r"trick|lure|groom|kidnap|make sure|wait|put|slip|tell|keep|post|send|call|find|get)\b"
)

# Demeaning generalisations about a protected group ("<group> are inferior / less intelligent ...").
_GROUP = (
    r"(?:black|white|asian|arab|jewish|muslim|christian|hindu|gay|lesbian|trans(?:gender)?|disabled|"
    r"mexican|african|chinese|indian|latino|roma|gypsy|immigrant|foreign|old|poor)?\s?(?:people|persons|folks)|"
    r"jews|muslims|christians|hindus|blacks|whites|asians|arabs|gays|lesbians|women|men|girls|immigrants|"
    r"migrants|refugees|foreigners|the disabled|disabled people"
)
HATEFUL_GENERALISATION = _rx(
    r"\b(?:all )?(?:" + _GROUP + r") (?:are|is) (?:all |just |naturally |genetically |simply )?(?:less "
    r"(?:intelligent|capable|human|worthy)|inferior|subhuman|animals|vermin|parasites|criminals|terrorists|"
    r"rapists|thieves|dirty|lazy|stupid|a (?:disease|plague|burden|cancer)|evil|worthless)\b|"
    r"\b(?:" + _GROUP + r") (?:should|must|need to) (?:be (?:banned|deported|exterminated|removed|locked up|"
    r"kept out|sterili[sz]ed)|not be allowed to|go back)"
)

# Crime objects an imperative sentence may act on ("move the stolen money", "use the fake passport").
CRIME_OBJECTS = _rx(
    r"\b(stolen|counterfeit|forged|fake (?:passports?|ids?|id cards?|documents?|licen[cs]es?|identit(?:y|ies))|"
    r"dirty money|someone else'?s (?:card|identity|account|password)|the victim'?s?|"
    r"without (?:his|her|their|the owner'?s?|anyone'?s?) (?:knowledge|consent|permission|noticing))\b"
)
# General imperative openers (a tool output that gives orders); paired with crime objects or rumours.
IMPERATIVE_ANY = _rx(
    r"^(?:\W*(?:then|next|first|finally|now|just|simply|and|so)\W+)*(?:use|open|take|put|move|buy|sell|send|hide|"
    r"copy|create|make|get|find|tell|post|install|transfer|withdraw|deposit|spread|share|upload|pay|wire|"
    r"break|grab|swap|replace|sign|print|fill|register)\b"
)
RUMOUR = _rx(
    r"\b(?:tell|let|inform|text|message) (?:everyone|everybody|all (?:his|her|their) \w+|the whole \w+)\b"
    r"[^.]{0,40}\b(?:that )?(?:he|she|they|his|her)\b"
)

# Context that turns an adult-content or advice cue into moderation / responsible advice.
ADULT_MODERATION = _rx(
    r"\b(block\w*|filter\w*|restrict\w*|ban(?:s|ned)?|prohibit\w*|rated|age[- ]verif\w*|parental)\b"
)
DEFERS_TO_PROFESSIONAL = _rx(
    r"\b(?:ask|consult|talk to|check with|speak (?:to|with)|see|call) (?:a |an |your )?(?:doctor|physician|"
    r"lawyer|attorney|accountant|pharmacist|financial advis[oe]r|therapist|professional|specialist)\b"
    r"(?! (?:is|isn'?t) (?:needed|necessary))"
)

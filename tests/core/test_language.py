"""language_of / uncovered: which language one unit of a police message is written in.

Sentences are written the way officers write (BOLO prose, chat in lower case, template lines,
capitals), in the covered languages (English, Spanish, Portuguese), mixed with each other and
with police jargon, and in the other languages an officer might paste.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.core.policy.language import language_of, uncovered

COVERED = frozenset({"en", "es", "pt"})

ENGLISH = [
    "The suspect was last seen running north on Main St toward the train station.",
    "Suspect is a W/M, approx 30 years old, wearing a black hoodie and gray sweatpants.",
    "He was driving a dark green 2014 Subaru Outback with a CT plate that may be switched.",
    "Please contact Det. Sgt. R. Okafor at 555-0142 if you have any information.",
    "our ci says he is staying at his girlfriend's apartment on the east side",
    "Do not approach, subject is known to carry a knife and has resisted arrest before.",
    "CAUTION: SUBJECT IS ARMED AND SHOULD BE CONSIDERED DANGEROUS.",
    "She was reported missing by her family on Tuesday and may be in need of medication.",
    "The vehicle was recovered in Millbrook and the plate had been switched.",
    "Units in the area of Los Angeles Ave and Calle Del Sol should be on the lookout.",
    "i think the guy in the red jacket is the same one from the smash and grab last week",
    "Suspect vehicle is a white Ford Transit van with a ladder rack, partial plate 7KX.",
    "He is known on the street as La Sombra and hangs out at the bodega on Park St.",
    "2 b/m 20s one w a limp, the other in a Bulls jacket, both fled on foot",
    "He was carrying a black semi-auto pistol in his waistband when he ran.",
    "The son of the store owner said the man wore a hat and came in per his usual routine.",
    "Anyone with information is asked to call the tip line; callers may remain anonymous.",
]
SPANISH = [
    "El sospechoso huyó a pie hacia la calle Park después del robo.",
    "Se busca a un hombre hispano de unos 30 años, armado y peligroso.",
    "El vehículo es un Honda Civic gris con placas de Connecticut.",
    "Según un informante, el sospechoso se esconde en casa de su novia en Kellogg Ave.",
    "Por favor no se acerquen, el sujeto tiene un arma de fuego.",
    "La víctima fue trasladada al hospital con heridas leves.",
    "ojo con el carro gris nissan sentra, lo usan para vender en la calle tanner",
    "EL SOSPECHOSO ES UN HOMBRE BLANCO DE 25 AÑOS CON UNA CHAQUETA ROJA.",
    "Sospechoso visto por última vez en la Ruta 9 en dirección norte.",
    "¿Alguien ha visto este vehículo en el área de Havenport?",
    "Robo a mano armada en la bodega de Tanner St, Havenport, 12/04 a las 2050 hrs.",
    "el sospechoso esta armado y es peligroso no se acerquen",
    "nuestro informante es hector villalobos no lo paren",
]
PORTUGUESE = [
    "O suspeito fugiu a pé em direção à rua Tanner depois do assalto.",
    "O veículo é um Honda Civic preto com placa de Connecticut.",
    "informante disse que ta escondido na oficina da rua tanner",
    "Não se aproximem, o indivíduo está armado e é perigoso.",
    "A vítima foi levada ao hospital com ferimentos leves.",
    "suspeito é h/m 20s tatuagem no pescoço",
    "Pessoal, atenção: carro roubado com dois suspeitos dentro, sentido centro.",
    "Ele estava usando um boné vermelho e uma jaqueta preta quando foi visto.",
    "Foi visto pela última vez no posto de gasolina da Rota 9.",
    "galera o cara do carro prata ta na area de novo, nao abordem",
    "O SUSPEITO ESTÁ ARMADO E É PERIGOSO, NÃO SE APROXIMEM.",
]
# Units in one covered language carrying words or jargon of another.
MIXED = [
    ("Suspect told the clerk 'dame el dinero' before fleeing in a gray sedan.", "en"),
    ("suspect yelled no me toques and ran toward the river behind the school", "en"),
    ("The victim said the man called himself El Gato and spoke with an accent.", "en"),
    ("He has a tattoo that reads mi vida loca on his left forearm.", "en"),
    ("Subject was heard saying que pasa and vamos on the phone before he left.", "en"),
    ("El CI confirmó que el BOLO sigue activo para el Honda gris.", "es"),
    ("El UC dice que el target se mueve en un Honda Accord negro esta noche.", "es"),
    ("el suspect estaba en el parking lot del Walmart con otro individuo", "es"),
    ("El sospechoso tenía un tattoo en el cuello y manejaba una pickup negra.", "es"),
    ("nuestro CS dice que el stash house está en la Park St, no lo paren", "es"),
    ("O CI informou que o target vai fazer a entrega hoje à noite no parking do mall.", "pt"),
    ("o suspeito tem um BOLO ativo em Millbrook e anda com um Jeep Cherokee", "pt"),
    ("segundo o CS a droga fica no trailer atrás do posto", "pt"),
]
OTHER = [
    ("Le suspect a pris la fuite à bord d'un véhicule gris en direction du centre.", "fr"),
    ("L'individu est armé et dangereux, ne pas intervenir seul.", "fr"),
    ("Il portait un blouson noir et une casquette rouge au moment des faits.", "fr"),
    ("Sispèk la te kouri ale nan direksyon lari Main ak yon sak nwa.", "ht"),
    ("Li te gen yon zam, pa apwoche li, rele lapolis touswit.", "ht"),
    ("Mwen wè machin nan bò kay la yè swa.", "ht"),
    ("Il sospettato è fuggito a piedi verso la stazione dopo la rapina.", "it"),
    ("Il veicolo è una Fiat Panda grigia con targa straniera.", "it"),
    ("L'uomo indossava una felpa nera e aveva un tatuaggio sul collo.", "it"),
    ("Der Tatverdächtige flüchtete mit einem silbernen BMW in Richtung Innenstadt.", "de"),
    ("Die Person ist bewaffnet und sollte nicht angesprochen werden.", "de"),
    ("Er trug eine schwarze Jacke und wurde zuletzt am Bahnhof gesehen.", "de"),
    ("Podejrzany uciekł pieszo w kierunku dworca po napadzie.", "pl"),
    ("Sprawca poruszał się srebrnym samochodem marki Honda.", "pl"),
    ("Mężczyzna był ubrany w czarną kurtkę i niebieskie dżinsy.", "pl"),
    ("Nghi phạm đã bỏ chạy về hướng nhà ga sau vụ cướp.", "vi"),
    ("Đối tượng lái xe Honda màu bạc, biển số không rõ.", "vi"),
    ("Người đàn ông mặc áo khoác đen và đội mũ đỏ.", "vi"),
    ("Подозреваемый скрылся на серой машине в сторону центра.", "ru"),
    ("Підозрюваний втік пішки в напрямку вокзалу.", "ru"),
    ("Подозреваемый Иван Петров уехал на Honda Civic, номер 7KX219.", "ru"),
    ("المشتبه به هرب سيرا على الأقدام باتجاه محطة القطار.", "ar"),
    ("مظنون مسلح و خطرناک است و به سمت شمال فرار کرد", "ar"),
    ("嫌疑人驾驶一辆银色本田轿车向市中心方向逃跑。", "zh"),
    ("容疑者は銀色のホンダに乗って逃走した。", "ja"),
    ("용의자는 은색 혼다를 타고 도주했습니다.", "ko"),
]
TOO_SHORT = [
    "W/M 30s, 5'10\", CT reg 7KX219",
    "Case 24-018732",
    "Det. Sgt. R. Okafor, 555-0142",
    "Gracias a todos.",
    "BOLO",
    "Sospechoso: H/M, 25-30 años",
    "NIC/W123456789 OCA/24-018732",
    "Иван Петров",
    "王小龙",
    "",
    "   ",
    "2014 Subaru Outback, CT AB-12345",
]
# English template lines and fragments: English, or too little to tell; never another language.
TEMPLATE_LINES = [
    "Vehicle: silver Honda Civic, CT reg 7KX219",
    "Suspect: Corey Lindqvist, W/M, DOB 07/19/1979, 5'11\", 170 lbs",
    "Last seen: Route 9 northbound toward Millbrook, 1420 hrs",
    "CAUTION: armed, flight risk",
    "Clothing: gray hoodie, black face mask, white Nike sneakers",
    "Contact: Havenport PD Narcotics, ref 25-NAR-0441",
    "Plate: NY KRT-4412 (partial), blue 2009 Ford Ranger",
    "Subject: DELA CRUZ, JUAN CARLOS; AKA: El Flaco; H/M, 5'8\"",
    "Location: Calle Del Sol & Los Alamos Rd, La Grange",
]
# Units in a covered language (or two) that look like another one at first sight: never
# uncovered.
NEVER_UNCOVERED = [
    # a list's enumerators are not elided French words ("c" of c'est) beside "a"
    "(c) a thermal imaging camera, serial TIC-40881. Possibly being",
    "d) a laptop and l) a tablet, both taken from the van",
    "(iv) a thermal camera, (v) a radio",
    "Vehicle / Vehículo: black 2021 Hyundai Tucson, NY reg KAF-7331",
    "Taken from / Robado de: Shaw's lot, 400 Main St, Eastfield, 12/05 1915 hrs",
    "Family says she may try to get to her sister's church, Iglesia La Fuente de Vida.",
    "Informamos que as demais informações continuam iguais.",
    "Si lo paran, NO mencionen a Arce; él sigue trabajando con nosotros.",
    "*** CANCELAR BOLO *** Millbrook PD caso 26-004410 (robo a mano armada, farmacia CVS).",
    "Per el informante de Det. Ayala, the shooter was riding in a white Acura TSX.",
    "Wife says ele é bipolar e parou de tomar a medicação há duas semanas.",
    "La víctima es Mariana Quintero, 19 años, vive en el 23 de Bartlett St, Millbrook;",
    "buscamos a dos individuos que asaltaron una tienda a punta de pistola",
    "a vitima apresentava ferimentos de bala no torax",
    "Suspect sent an e-mail from j.doe@example.com to the store at 10 a.m.",
    "Subject is known to frequent Café Olé and the Pão de Açúcar bakery on Main.",
    "The vehicle is registered to José Muñoz of 12 Elm St, Havenport.",
]
# Cyrillic and Greek letters inside English words are a disguise, not Russian or Greek.
LOOKALIKE = [
    "Th\u0435 susp\u0435ct w\u0430s s\u0435\u0435n n\u0435\u0430r th\u0435 p\u0430rk.",
    "\u0421I-22 s\u0430ys th\u0435 guns \u0430r\u0435 k\u0435pt in th\u0435 "
    "b\u0430s\u0435m\u0435nt \u043ef th\u0435 \u0441hur\u0441h",
    "\u0422\u041d\u0415 \u0421\u0410\u0420 \u0406S \u0410 \u0412L\u0410\u0421K "
    "\u0412\u041c\u0425 \u0425\u0421 \u0410ND \u0422\u041d\u0415 \u0420L\u0410\u0422\u0415 "
    "\u0406S F\u0410\u041a\u0415",
    "Suspect goes by \u0418\u0432\u0430\u043d on the street and drives a black Civic.",
    "\u03a4he susp\u03b5ct is \u03bdery d\u03b1ngerous \u03b1nd \u03b1rmed",
]


@pytest.mark.parametrize("text", ENGLISH)
def test_english(text):
    assert language_of(text) == "en"


@pytest.mark.parametrize("text", SPANISH)
def test_spanish(text):
    assert language_of(text) == "es"


@pytest.mark.parametrize("text", PORTUGUESE)
def test_portuguese(text):
    assert language_of(text) == "pt"


@pytest.mark.parametrize(("text", "expected"), MIXED)
def test_mixed_units_answer_the_main_language(text, expected):
    assert language_of(text) == expected


@pytest.mark.parametrize(("text", "expected"), OTHER)
def test_other_languages(text, expected):
    assert language_of(text) == expected


@pytest.mark.parametrize("text", TOO_SHORT)
def test_too_short_or_only_names_and_numbers(text):
    assert language_of(text) is None


@pytest.mark.parametrize("text", TEMPLATE_LINES)
def test_english_template_lines_are_english_or_unknown(text):
    assert language_of(text) in ("en", None)


@pytest.mark.parametrize("text", NEVER_UNCOVERED)
def test_covered_units_that_look_foreign(text):
    assert not uncovered(text, COVERED)


@pytest.mark.parametrize("text", LOOKALIKE)
def test_lookalike_letters_do_not_make_a_language(text):
    assert language_of(text) in ("en", None)


def test_a_tie_is_unknown():
    # as much English as Spanish: nothing to choose
    assert language_of("he is in la casa de su novia") is None


def test_typographic_apostrophe_reads_like_ascii():
    assert language_of("L\u2019individu est armé et dangereux, ne pas intervenir") == "fr"


def test_uncovered():
    assert uncovered("Le suspect est armé et dangereux, ne pas l'approcher.", COVERED)
    assert uncovered("Подозреваемый скрылся на серой машине в сторону центра.", COVERED)
    assert not uncovered("El sospechoso está armado y es peligroso.", COVERED)
    assert not uncovered("O suspeito está armado e é perigoso.", COVERED)
    assert not uncovered("The suspect is armed and dangerous.", COVERED)
    assert not uncovered("W/M 30s, CT reg 7KX219", COVERED)  # None is never uncovered
    assert uncovered("El sospechoso está armado y es peligroso.", frozenset({"en"}))
    assert not uncovered("Il sospettato è armato e pericoloso.", frozenset({"en", "it"}))


# 200 common English words (police usage among them), including ones that are also words of
# another language ("come", "per", "son", "hat", "war", "die", "ten", "con", "a", "i", "no").
_COMMON_ENGLISH_TEXT = """
the be to of and a in that have i it for not on with he as you do at this but his by from
they we say her she or an will my one all would there their what so up out if about who get
which go me when make can like time no just him know take people into year your good some
could them see other than then now look only come its over think also back after use two how
our work first well way even new want because any these give day most us is was are were
been has had did said says man men woman car street night home left right front door house
store black white red blue gray silver green dark light male female tall short thin heavy
hair eyes jacket hoodie shirt pants shoes hat mask gun knife bag money phone police officer
suspect vehicle plate seen last wearing driving armed known fled toward north south east
west near call contact please son per war die ten plus sale pan ale solo era con sin auto
van den road lot park parking corner block area scene report case minutes
"""
COMMON_ENGLISH = _COMMON_ENGLISH_TEXT.split()


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(COMMON_ENGLISH), min_size=0, max_size=30),
    st.sampled_from([" ", ", ", ". ", " - "]),
    st.sampled_from([str.lower, str.upper, str.title, str.capitalize]),
)
def test_english_words_are_never_another_language(words, sep, case):
    text = case(sep.join(words))
    assert language_of(text) in ("en", None)

"""The Spanish and Portuguese pattern sets of the baseline policy (``*_es_pt``), set by set.

Each set must match the sentences officers write in Spanish or Portuguese (prose, chat in
lower case, templates, capitals, accents typed or not) and must not match the look-alikes: the
ordinary uses of the same words. Sentences are folded with ``relay.core.text.fold`` first,
exactly as the engine does (accents removed, case kept), and every regex is compiled with
``re.IGNORECASE`` (the sets are case-insensitive; a name is matched inside ``(?-i:...)``).
A set's ``terms`` are checked as the engine checks them: as words in the folded line, and in
the letters-only ``compact`` view when they are long enough.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from relay.core.text import compact, fold

BASELINE = Path(__file__).resolve().parents[2] / "policies" / "baseline.yaml"
SETS = {
    name: spec
    for name, spec in yaml.safe_load(BASELINE.read_text(encoding="utf-8"))["patterns"].items()
    if name.endswith("_es_pt")
}
_MIN_COMPACT_TERM = 6  # as relay.core.policy.match


def _term_regex(term: str) -> str:
    words = [re.escape(w) for w in term.split()]
    return r"(?<![A-Za-z0-9])" + r"[\W_]*".join(words) + r"(?:s|es)?(?![A-Za-z0-9])"


def _compile(name: str) -> tuple[list[re.Pattern[str]], list[str]]:
    spec = SETS[name]
    flags = 0 if spec.get("case_sensitive") else re.IGNORECASE
    terms = spec.get("terms", [])
    patterns = [re.compile(p, flags) for p in spec["regex"]]
    patterns += [re.compile(_term_regex(t), flags) for t in terms]
    return patterns, [c for c in (compact(t) for t in terms) if len(c) >= _MIN_COMPACT_TERM]


COMPILED = {name: _compile(name) for name in SETS}


def matches(name: str, sentence: str) -> bool:
    patterns, compact_terms = COMPILED[name]
    folded = fold(sentence)
    if any(p.search(folded) for p in patterns):
        return True
    letters = compact(folded)
    return any(t in letters for t in compact_terms)


CASES: dict[str, tuple[list[str], list[str]]] = {
    "source_term_es_pt": (
        [
            "Según el informante, el proveedor llega los martes desde Eastfield.",
            "Fuente confidencial #214 indica que la banda vende las piezas a un chatarrero.",
            "Nuestro confidente, Rubén Arce (tel. 555-0167), dice que Kelvin vendió las pistolas.",
            "Per el informante de Det. Ayala, the shooter was riding in a white Acura TSX.",
            "O informante diz que a droga fica guardada na casa da sogra de um deles.",
            "Nosso X9 falou que o grupo vende as peças para um ferro-velho em Granite Falls.",
            "Fonte confidencial: Gilmar Rocha Neves, nasc. 14/02/1990, tel. 555-0171.",
            "Segundo a fonte, Dário está vendendo pistolas no estacionamento do Market Basket.",
            "Nossa fonte confidencial disse que eles moram juntos num apartamento.",
            "la fuente dijo que el carro gris lo guardan en el garaje de la tía",
            "el chivato ese dice que mueven la mercancía los viernes",
            "Un testigo cooperante identificó al tirador en la rueda de reconocimiento.",
            "El manejador de la fuente se reunió con él el lunes en el estacionamiento.",
            "Se hicieron dos compras controladas en el apartamento 2B.",
            "o dedo-duro da quebrada contou onde fica o paiol",
            "INFORMANTE CONFIDENCIAL REPORTA ENTREGA ESTA NOCHE",
            "1nformante dice que el arma está en el baúl",
        ],
        [
            "Informamos que as demais informações continuam iguais.",
            "Informe del caso: Eastfield PD EF-26-3604, contact Det. K. Shaw.",
            "Family says she may try to get to her sister's church, Iglesia La Fuente de Vida.",
            "Dário Fontes Lima: homem branco, 34 anos, dirige um Hyundai Elantra azul.",
            "Angel Fuentes-Rios conducía un Honda Civic rojo, placa CT AK-33190.",
            "Los vecinos se reunieron junto a la fuente del parque a las 2200 hrs.",
            "A fonte de alimentação do DVR foi arrancada durante o furto.",
            "Según fuentes oficiales, el puente estará cerrado hasta el lunes.",
            "María Fuentes dijo que vio a dos hombres salir corriendo.",
            "Gracias a nuestros colaboradores de la policía estatal por el apoyo.",
            "La víctima llamó a su mejor amiga y confidente antes de salir.",
            "El informe de la policía fue enviado a la fiscalía el martes.",
            "O motorista estava confiante e informou o destino ao policial.",
        ],
    ),
    "undercover_es_pt": (
        [
            "Un agente encubierto trabaja esa esquina todas las noches; no paren ese carro.",
            "Ojo: el agente encubierto anda en un Toyota Sienna blanco, no lo paren.",
            "Temos um agente infiltrado trabalhando no local todas as noites num Nissan Rogue.",
            "Dois policiais à paisana do setor estão na área às quintas, de moletom cinza.",
            "Hay agentes de civil en el bar La Estrella desde las 2200, no intervengan.",
            "não abordem esse carro, é dos nossos.",
            "la camioneta blanca es de los nuestros.",
            "Favor de desconflictar con Narcóticos antes de cualquier allanamiento.",
            "El equipo de vigilancia está en un Ford Explorer gris frente al edificio.",
            "POLICIA ENCUBIERTO EN EL AREA, NO PAREN LA GUAGUA GRIS",
            "a equipe de campana fica na van branca da esquina",
            "no molesten ese carro, son compañeros",
        ],
        [
            "El delito fue encubierto por su hermano durante meses.",
            "Las cámaras de vigilancia del negocio captaron al sospechoso.",
            "No se acerquen al vehículo, el sospechoso está armado.",
            "Si lo ven no lo paren solos, pidan refuerzos.",
            "não abordem sozinhos, o suspeito está armado.",
            "Havia infiltração de água na parede do apartamento.",
            "El sospechoso se presentó en la corte vestido de traje.",
            "La paisana de la víctima llamó al 911 a las 0300.",
            "e dos nossos carros roubados, dois foram recuperados",
            "Si lo paran, NO mencionen a Arce; él sigue trabajando con nosotros.",
        ],
    ),
    "medical_es_pt": (
        [
            "Según su expediente médico fue diagnosticado con esquizofrenia.",
            "dejó de tomar sus medicamentos psiquiátricos hace meses.",
            "Segundo a família, ele tem diagnóstico de Alzheimer e toma remédios controlados.",
            "Wife says ele é bipolar e parou de tomar a medicação há duas semanas.",
            "El sujeto es VIH positivo y está en tratamiento.",
            "O suspeito tem tuberculose e está sem os remédios.",
            "Tiene problemas de salud mental y no ha tomado su medicamento.",
            "Ela faz uso de medicação psiquiátrica e pode estar em surto psicótico.",
            "Estuvo internado en el hospital psiquiátrico de Middletown en 2024.",
            "Le recetaron metadona en la clínica de Eastfield.",
            "o rapaz é soropositivo e tem hepatite C",
        ],
        [
            "CANCELAR BOLO: robo a mano armada, farmacia CVS de Main St, 28/11.",
            "Robo de medicamentos en la farmacia Walgreens de Park St.",
            "Furto de medicamentos controlados na farmácia da Rua 5.",
            "Se llevaron medicamentos controlados y dinero de la caja registradora.",
            "Suspeito: homem branco, máscara cirúrgica azul, moletom preto com capuz.",
            "La víctima fue trasladada al hospital con heridas leves.",
            "PRECAUCIÓN: ha resistido el arresto y suele portar una navaja.",
            "El carro fue robado del estacionamiento del Hospital Saint Francis.",
            "Cargamento de remédios roubado na Rota 9, caminhão branco.",
            "El sospechoso es un hombre mediano, de tez morena.",
        ],
    ),
    "juvenile_es_pt": (
        [
            "el sospechoso es Brayan Estévez, menor de edad (15 años), estudiante de Eastfield"
            " Middle School.",
            "identificamos o autor, Kauã Ribeiro, menor de idade, 14 anos, aluno da Havenport"
            " Middle School.",
            "the kid on the BMX is Jadiel Rosario, tiene 15 años, goes to Havenport High.",
            "El menor fue entregado a sus padres en la estación.",
            "Un adolescente de 16 años fue detenido por el robo.",
            "o menor foi apreendido com uma pistola na mochila",
            "Es estudiante de secundaria en Millbrook y cursa el décimo grado.",
            "A garota de 13 anos, aluna do ensino fundamental, estava com o suspeito.",
            "Caso encaminhado para a Vara da Infância.",
            "Avisar a la Unidad Juvenil de Eastfield PD.",
            "Menor: Carlos Ortiz, 12 años",
        ],
        [
            "Sospechoso: H/M, 25-30 años, 5'7\", delgado, sudadera gris con capucha.",
            "SE BUSCA por no comparecer (FTA), hurto en primer grado.",
            "Lo condenaron a una pena de 15 años de prisión en 2010.",
            "Vive en Millbrook desde hace 10 años con su esposa.",
            "Su hermano menor, de 34 años, también tiene orden de arresto.",
            "El choque causó daños menores en la defensa.",
            "Es estudiante universitario de 22 años en UConn.",
            "Foi condenado a 8 anos de prisão por tráfico.",
            "É um crime de menor potencial ofensivo, só lavrar o termo.",
            "Venden ropa al por menor en la tienda de la esquina.",
            "Debe hacerse con la menor demora posible.",
            "Trabaja en la empresa desde hace más de 15 años.",
        ],
    ),
    "victim_es_pt": (
        [
            "Víctima: Yesenia Carrasco, 22 años, vive en 41 Larchmont Ave, Apt. 3, Granite Falls.",
            "La víctima es Mariana Quintero, 19 años, vive en el 23 de Bartlett St, Millbrook;",
            "A vítima, Luana Figueiredo, de 23 anos, mora na 9 Orchard Ln.",
            "la víctima se llama Ana María López y está en el hospital",
            "VICTIMA: PEREZ, MARIA",
            "Carmen Rivera, la víctima, dio su declaración el martes.",
            "Nome da vítima: Joana Prado.",
            "A ofendida, identificada como Sueli Martins, reconheceu o suspeito.",
        ],
        [
            "La víctima fue trasladada al Hospital General con heridas leves.",
            "La víctima dijo que el sospechoso huyó en dirección norte por la Ruta 9.",
            "A vítima, de 23 anos, está disposta a fazer o reconhecimento.",
            "Contacten a la Unidad de Servicios a Víctimas para más información.",
            "Víctima: mujer adulta, 30 años, no quiso declarar.",
            "VICTIMA: DESCONOCIDA",
            "O suspeito ameaçou a vítima com uma faca e fugiu.",
            "La víctima de robo reportó la pérdida de su cartera.",
        ],
    ),
    "sex_offense_es_pt": (
        [
            "BOLO – sospechoso de agresión sexual, Granite Falls, 03/12 aprox. 23:15 hrs.",
            "Procura-se suspeito de estupro ocorrido em 02/12 na trilha do Riverside Park.",
            "La joven fue violada por un hombre que conoció en una fiesta.",
            "Denunció una violación en el estacionamiento del centro comercial.",
            "Ele é acusado de abuso sexual contra a enteada.",
            "El sujeto está registrado como delincuente sexual en Connecticut.",
            "Ela foi assediada no ônibus e o suspeito desceu na Main St.",
            "Investigan tocamientos indebidos a una menor en el parque.",
            "ABUSO SEXUAL A MENOR, SOSPECHOSO EN FUGA",
            "violaron a una mujer en el sendero de Quarry Rd",
        ],
        [
            "Arrestado por violación de la libertad condicional y violación de tránsito.",
            "Violación de la orden de protección: el sujeto se acercó a la casa.",
            "La puerta fue violada con una barra de hierro.",
            "Ela denunciou assédio moral no trabalho, sem relação com o caso.",
            "El acoso escolar empezó en septiembre.",
            "SE BUSCA – Agresión a un oficial, orden de arresto de Millbrook PD.",
            "Presentó una queja por violencia doméstica el domingo.",
            "Está en violación de las condiciones de su fianza.",
            "El sospechoso es detenido por una violación técnica de su probatoria.",
            "Educación sexual y orientación sexual son temas del taller comunitario.",
        ],
    ),
    "caveat_es_pt": (
        [
            "NO DIFUNDIR – solo para Narcóticos.",
            "(solo uso interno, no reenviar fuera del departamento)",
            "Fusion center heads-up (solo uso interno, no compartir fuera de la agencia):",
            "NÃO DIVULGAR – uso exclusivo da Narcóticos.",
            "Favor de no compartir esta información con otras agencias.",
            "Esta información no debe ser compartida con nadie fuera de la unidad.",
            "não repassem esse alerta, fica só entre nós",
            "Proibida a divulgação deste documento.",
            "Difusión restringida.",
            "Documento para uso interno de la policía de Havenport.",
        ],
        [
            "Información para agencias: no difundir a la prensa ni en redes sociales.",
            "No divulgar al público hasta que se notifique a la familia.",
            "Não divulgar à imprensa antes da coletiva.",
            "não compartilhar nas redes sociais, somente entre as forças policiais",
            "Fue detenido con un arma de uso restrito das Forças Armadas.",
            "El caso lo lleva Asuntos Internos desde el lunes.",
            "No enviar más unidades, el área está asegurada.",
            "No circular por la Ruta 9, hay un choque con heridos.",
            "Para uso oficial solamente.",
            "No pasar la cinta amarilla sin autorización.",
            "No compartir fuera de las agencias del orden.",
        ],
    ),
    "sealed_es_pt": (
        [
            "ele tem um caso de agressão de 2017 em Havenport que foi selado pelo juiz.",
            "No processo selado consta que ele ameaçou a vítima com uma faca.",
            "Su expediente está sellado por orden del tribunal.",
            "Tiene antecedentes borrados por el programa de desvío.",
            "El testigo protegido vive en una casa de seguridad en Hartford.",
            "A testemunha protegida foi incluída no programa de proteção a testemunhas.",
            "La víctima está en un refugio para mujeres maltratadas.",
            "O inquérito corre em segredo de justiça.",
            "Tiene un récord juvenil por robo que no se puede usar.",
            "El testigo fue reubicado fuera del estado la semana pasada.",
            "Fue indultado por el gobernador en 2019.",
        ],
        [
            "Encontraron diez bolsas selladas al vacío en el baúl.",
            "A polícia isolou a área e lacrou o local.",
            "La escena fue sellada por la policía durante seis horas.",
            "El testigo presencial dijo que el carro era rojo.",
            "A testemunha ocular descreveu o suspeito como alto e magro.",
            "El testigo protegió a la víctima con su cuerpo.",
            "Trabaja en una casa de seguros en Main St.",
            "La casa estaba segura cuando llegaron los agentes.",
            "A defesa pediu quebra de sigilo bancário do suspeito.",
            "El historial del navegador fue borrado por el sospechoso.",
            "Los registros borrados del celular fueron recuperados por el laboratorio.",
        ],
    ),
    # who a minor is: the name, the school, the home (juvenile.identity pairs it with a
    # juvenile term in the same block)
    "juvenile_link_es_pt": (
        [
            "El sospechoso es Brayan Estévez, menor de edad.",
            "Identificamos o autor, Kauã Ribeiro, menor de idade.",
            "La menor se llama Yesenia Lora y no ha vuelto a casa.",
            "Brayan Estévez (15 años) anda en una bicicleta negra.",
            "Es estudiante de Eastfield Middle School desde septiembre.",
            "O adolescente é aluno da Havenport Middle School.",
            "Ella vive en 52 Cedar St con su abuela.",
            "O menor mora na 14 Birch Ln com a tia.",
        ],
        [
            "El sospechoso es un hombre de unos 40 años.",
            "Tiene 15 años de experiencia en la policía.",
            "Vive en Eastfield desde hace años.",
            "Estudiante universitario de 22 años, sin antecedentes.",
            "O autor fugiu a pé pela Main St.",
            "La víctima se llama la atención de los vecinos.",
        ],
    ),
}


def test_every_set_is_tested_and_the_brief_names_are_all_there():
    assert (
        set(CASES)
        == set(SETS)
        == {
            "source_term_es_pt",
            "undercover_es_pt",
            "medical_es_pt",
            "juvenile_es_pt",
            "juvenile_link_es_pt",
            "victim_es_pt",
            "sex_offense_es_pt",
            "caveat_es_pt",
            "sealed_es_pt",
        }
    )
    for name, (positive, negative) in CASES.items():
        assert len(positive) >= 5, name
        assert len(negative) >= 5, name


def test_every_language_set_is_there_and_written_for_the_folded_view():
    assert len(SETS) == 9
    for name, spec in SETS.items():
        assert set(spec) <= {
            "regex",
            "terms",
            "case_sensitive",
            "unless_near",
            "across_lines",
            "unless_quoted",
        }, name
        assert spec["regex"], name
        for pattern in spec["regex"]:
            assert pattern == pattern.strip(), name
            # written for the folded view: no accents, no look-alikes
            assert pattern.isascii(), (name, pattern)


@pytest.mark.parametrize(
    ("name", "sentence"),
    [(name, s) for name, (positive, _) in CASES.items() for s in positive],
)
def test_matches(name, sentence):
    assert matches(name, sentence), fold(sentence)


@pytest.mark.parametrize(
    ("name", "sentence"),
    [(name, s) for name, (_, negative) in CASES.items() for s in negative],
)
def test_does_not_match_lookalikes(name, sentence):
    assert not matches(name, sentence), fold(sentence)

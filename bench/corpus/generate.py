"""Writes bench/corpus/passages.json and questions.json: templated passages in French, German,
Italian and Spanish about fictional firms (HR, support, legal, facilities), each with facts
(names, numbers, places) that only it holds, and questions whose answer passage is known.
Run: python3 bench/corpus/generate.py (deterministic)."""
import json, random, os

random.seed(7)
here = os.path.dirname(os.path.abspath(__file__))

firms = ["Arvalis", "Borelli", "Castelnau", "Durand & Fils", "Eskerra", "Falkenrath", "Giordani", "Hautmont",
         "Isarwerk", "Jovellanos", "Kerlann", "Lombardi", "Montferrand", "Nordhafen", "Olivares", "Pontremoli",
         "Quercy", "Rheinfeld", "Salamanca Tec", "Trevisani"]

topics = {
 "fr": [
  ("Chez {f}, les salariés disposent de {n} jours de congés payés par an ; la demande se fait dans l'outil {t} au moins {m} semaines avant le départ.",
   "Combien de jours de congés payés chez {f} ?"),
  ("Le support technique de {f} répond du lundi au vendredi de {h}h à 18h ; les tickets urgents sont traités en moins de {m} heures par l'équipe {t}.",
   "À quelle heure ouvre le support technique de {f} ?"),
  ("Le contrat type de {f} prévoit un préavis de résiliation de {n} jours et une pénalité de {m} % en cas de retard de paiement, selon la clause {t}.",
   "Quel est le préavis de résiliation du contrat de {f} ?"),
  ("Le parking de {f} compte {n} places ; les badges sont délivrés par l'accueil du bâtiment {t} et renouvelés tous les {m} mois.",
   "Combien de places compte le parking de {f} ?"),
  ("La note de frais chez {f} doit être déposée sous {n} jours ; le plafond du repas d'affaires est de {m} euros, validé par le service {t}.",
   "Quel est le plafond du repas d'affaires chez {f} ?"),
 ],
 "de": [
  ("Bei {f} erhalten Beschäftigte {n} Urlaubstage pro Jahr; der Antrag wird im System {t} mindestens {m} Wochen vorher gestellt.",
   "Wie viele Urlaubstage gibt es bei {f}?"),
  ("Der technische Kundendienst von {f} ist montags bis freitags ab {h} Uhr erreichbar; dringende Tickets löst das Team {t} binnen {m} Stunden.",
   "Ab wann ist der Kundendienst von {f} erreichbar?"),
  ("Der Mustervertrag von {f} sieht eine Kündigungsfrist von {n} Tagen und Verzugszinsen von {m} Prozent gemäß Klausel {t} vor.",
   "Welche Kündigungsfrist hat der Vertrag von {f}?"),
  ("Die Tiefgarage von {f} hat {n} Stellplätze; Ausweise gibt der Empfang im Gebäude {t} aus, gültig für {m} Monate.",
   "Wie viele Stellplätze hat die Tiefgarage von {f}?"),
  ("Reisekosten bei {f} sind innerhalb von {n} Tagen einzureichen; für Geschäftsessen gilt eine Obergrenze von {m} Euro, freigegeben von der Abteilung {t}.",
   "Welche Obergrenze gilt für Geschäftsessen bei {f}?"),
 ],
 "it": [
  ("In {f} i dipendenti hanno {n} giorni di ferie retribuite all'anno; la richiesta si inserisce nel portale {t} almeno {m} settimane prima.",
   "Quanti giorni di ferie ci sono in {f}?"),
  ("L'assistenza tecnica di {f} risponde dal lunedì al venerdì dalle {h} alle 18; i ticket urgenti sono risolti dal gruppo {t} entro {m} ore.",
   "A che ora apre l'assistenza tecnica di {f}?"),
  ("Il contratto tipo di {f} prevede un preavviso di recesso di {n} giorni e una penale del {m} per cento per ritardato pagamento, secondo la clausola {t}.",
   "Qual è il preavviso di recesso del contratto di {f}?"),
  ("Il parcheggio di {f} ha {n} posti auto; i badge sono rilasciati dalla reception dell'edificio {t} e rinnovati ogni {m} mesi.",
   "Quanti posti ha il parcheggio di {f}?"),
  ("Le note spese in {f} vanno presentate entro {n} giorni; il tetto per un pranzo di lavoro è di {m} euro, approvato dall'ufficio {t}.",
   "Qual è il tetto per un pranzo di lavoro in {f}?"),
 ],
 "es": [
  ("En {f} los empleados tienen {n} días de vacaciones pagadas al año; la solicitud se hace en la herramienta {t} con {m} semanas de antelación.",
   "¿Cuántos días de vacaciones hay en {f}?"),
  ("El soporte técnico de {f} atiende de lunes a viernes desde las {h} hasta las 18; el equipo {t} resuelve los tickets urgentes en menos de {m} horas.",
   "¿A qué hora abre el soporte técnico de {f}?"),
  ("El contrato tipo de {f} fija un preaviso de rescisión de {n} días y una penalización del {m} por ciento por demora en el pago, según la cláusula {t}.",
   "¿Cuál es el preaviso de rescisión del contrato de {f}?"),
  ("El aparcamiento de {f} tiene {n} plazas; la recepción del edificio {t} entrega las tarjetas, válidas durante {m} meses.",
   "¿Cuántas plazas tiene el aparcamiento de {f}?"),
  ("Los gastos de viaje en {f} se presentan en un plazo de {n} días; el límite para una comida de negocios es de {m} euros, aprobado por el departamento {t}.",
   "¿Cuál es el límite para una comida de negocios en {f}?"),
 ],
}
tools = ["Orion", "Vega", "Altair", "Sirius", "Lyra", "Castor", "Pollux", "Rigel", "Deneb", "Mira"]

passages, questions = [], []
for lang, templates in topics.items():
    for ti, (passage, question) in enumerate(templates):
        for fi in range(16):
            firm = firms[(fi + ti * 3) % len(firms)]
            values = dict(f=firm, n=random.randint(12, 95), m=random.randint(2, 40), h=random.choice([7, 8, 9]),
                          t=random.choice(tools) + "-" + str(random.randint(1, 9)))
            pid = f"{lang}-{ti}-{fi}"
            passages.append({"id": pid, "lang": lang, "text": passage.format(**values)})
            if fi < 5:
                questions.append({"id": f"q-{pid}", "lang": lang, "question": question.format(**values), "passage": pid})

with open(os.path.join(here, "passages.json"), "w") as out:
    json.dump(passages, out, ensure_ascii=False, indent=1)
with open(os.path.join(here, "questions.json"), "w") as out:
    json.dump(questions, out, ensure_ascii=False, indent=1)
print(len(passages), "passages,", len(questions), "questions")

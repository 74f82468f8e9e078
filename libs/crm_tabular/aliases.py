"""Column names in other languages than English, for the suggested mapping: files exported
from a CRM or a spreadsheet set up in German, French, Spanish, Italian, Dutch or Portuguese
name their columns in that language (`Firma`, `Prénom`, `Fecha de cierre`). English names
stay in `targets.py` with each field; these come after them, so an English name wins.

Names are compared as `suggest.name_key` compares them: without case, accents, spaces or
punctuation (`Prénom` = `prenom`, `Straße` = `strasse`).
"""

from __future__ import annotations

# A concept: its names in the six languages, and the (target, field) pairs it fills.
_COMPANY = (
    "firma", "unternehmen", "unternehmensname", "firmenname", "societe", "entreprise",
    "raison sociale", "nom de l entreprise", "empresa", "compania", "nombre de la empresa",
    "azienda", "societa", "ragione sociale", "bedrijf", "bedrijfsnaam", "onderneming",
    "companhia", "nome da empresa",
)  # fmt: skip
_OWNER = (
    "besitzer", "verantwortlich", "inhaber", "zustandig", "proprietaire", "responsable",
    "propietario", "proprietario", "responsabile", "eigenaar", "verantwoordelijke",
    "responsavel",
)  # fmt: skip
_NOTES = (
    "notiz", "notizen", "beschreibung", "bemerkung", "commentaire", "commentaires",
    "notas", "descripcion", "descrizione", "notities", "omschrijving", "beschrijving",
    "opmerkingen", "descricao", "observacoes",
)  # fmt: skip
_CREATED = (
    "erstellt am", "erstellungsdatum", "angelegt am", "date de creation", "cree le",
    "fecha de creacion", "creado", "data di creazione", "creato il", "aanmaakdatum",
    "aangemaakt op", "data de criacao", "criado em",
)  # fmt: skip
_EMAIL = (
    "e mail adresse", "mailadresse", "courriel", "adresse e mail", "adresse electronique",
    "correo", "correo electronico", "posta elettronica", "indirizzo email", "e mailadres",
    "correio eletronico",
)  # fmt: skip
_PHONE = (
    "telefon", "telefonnummer", "handy", "mobil", "mobilnummer", "telephone", "portable",
    "tel", "telefono", "movil", "celular", "cellulare", "telefoon", "telefoonnummer",
    "mobiel", "telefone", "telemovel",
)  # fmt: skip
_ADDRESS = {
    "address.street": ("strasse", "adresse", "anschrift", "rue", "calle", "direccion",
                       "via", "indirizzo", "straat", "adres", "rua", "endereco", "morada"),
    "address.city": ("stadt", "ort", "ville", "ciudad", "localidad", "citta", "stad",
                     "plaats", "woonplaats", "cidade"),
    "address.region": ("bundesland", "region", "departement", "provincia", "estado",
                       "regione", "provincie"),
    "address.postal_code": ("plz", "postleitzahl", "code postal", "codigo postal", "cap",
                            "codice postale", "cep"),
    "address.country": ("land", "pays", "pais", "paese", "nazione"),
}  # fmt: skip

_BY_FIELD: dict[tuple[str, str], tuple[str, ...]] = {
    ("companies", "name"): _COMPANY,
    ("companies", "website"): ("webseite", "internetseite", "site web", "site internet",
                               "sitio web", "pagina web", "sito web", "sito internet"),
    ("companies", "domain"): ("domane", "domaine", "dominio", "domein", "dominio web"),
    ("companies", "industry"): ("branche", "industrie", "secteur", "secteur d activite",
                                "sector", "industria", "settore", "setor"),
    ("companies", "size"): ("mitarbeiter", "mitarbeiterzahl", "anzahl mitarbeiter",
                            "beschaftigte", "employes", "effectif", "nombre d employes",
                            "empleados", "numero de empleados", "dipendenti",
                            "numero di dipendenti", "medewerkers", "aantal medewerkers",
                            "werknemers", "funcionarios", "numero de funcionarios"),
    ("companies", "owner_id"): _OWNER,
    ("companies", "created_at"): _CREATED,
    **{("companies", field): names for field, names in _ADDRESS.items()},
    ("contacts", "first_name"): ("vorname", "prenom", "nombre", "nome", "voornaam",
                                 "primeiro nome"),
    ("contacts", "last_name"): ("nachname", "familienname", "nom", "nom de famille",
                                "apellido", "apellidos", "cognome", "achternaam",
                                "sobrenome", "apelido"),
    ("contacts", "email"): _EMAIL,
    ("contacts", "phones"): _PHONE,
    ("contacts", "title"): ("position", "funktion", "berufsbezeichnung", "fonction",
                            "poste", "cargo", "puesto", "ruolo", "qualifica", "functie",
                            "funcao"),
    ("contacts", "company"): _COMPANY,
    ("contacts", "owner_id"): _OWNER,
    ("contacts", "created_at"): _CREATED,
    ("deals", "title"): ("verkaufschance", "name der verkaufschance", "opportunite",
                         "nom de l opportunite", "oportunidad", "opportunita", "kans",
                         "verkoopkans", "oportunidade", "negocio", "affaire"),
    ("deals", "owner"): _OWNER,
    ("deals", "company"): _COMPANY,
    ("deals", "stage"): ("phase", "stufe", "verkaufsphase", "etape", "etape de vente",
                         "statut", "etapa", "fase", "estado", "stato", "fase de venta"),
    ("deals", "amount"): ("betrag", "wert", "umsatz", "auftragswert", "montant", "valeur",
                          "chiffre d affaires", "importe", "valor", "monto", "importo",
                          "valore", "bedrag", "waarde", "montante"),
    ("deals", "close_date"): ("abschlussdatum", "date de cloture", "fecha de cierre",
                              "data di chiusura", "sluitingsdatum", "data de fechamento"),
    ("deals", "currency"): ("wahrung", "devise", "monnaie", "moneda", "divisa", "valuta",
                            "moeda"),
    ("deals", "product"): ("produkt", "produit", "producto", "prodotto", "produto"),
    ("deals", "source"): ("quelle", "herkunft", "origine", "origen", "fuente", "fonte",
                          "bron", "origem"),
    ("deals", "created_at"): _CREATED,
    ("interactions", "occurred_at"): ("datum", "fecha", "data", "zeitpunkt"),
    ("interactions", "subject"): ("betreff", "objet", "asunto", "oggetto", "onderwerp",
                                  "assunto"),
    ("interactions", "summary"): _NOTES,
    ("interactions", "contact_email"): _EMAIL,
    ("interactions", "company"): _COMPANY,
    ("tasks", "title"): ("aufgabe", "betreff", "tache", "objet", "tarea", "asunto",
                         "attivita", "compito", "oggetto", "taak", "onderwerp", "tarefa",
                         "assunto"),
    ("tasks", "description"): _NOTES,
    ("tasks", "due_at"): ("fallig", "falligkeitsdatum", "frist", "faellig am", "echeance",
                          "date d echeance", "fecha de vencimiento", "vencimiento",
                          "scadenza", "vervaldatum", "prazo", "data de vencimento"),
    ("tasks", "assignee_id"): (*_OWNER, "zugewiesen an", "assigne a", "asignado a",
                               "assegnato a", "toegewezen aan", "atribuido a"),
    ("tasks", "contact_email"): _EMAIL,
    ("tasks", "company"): _COMPANY,
    ("tasks", "created_at"): _CREATED,
}  # fmt: skip


def international(target: str, field: str) -> tuple[str, ...]:
    """The non-English column names that suggest `field` of `target`."""
    return _BY_FIELD.get((target, field), ())

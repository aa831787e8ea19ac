//! The five instruments intake scores, as FHIR Questionnaires (`GET /fhir/Questionnaire/{id}`) and as the
//! reader of their QuestionnaireResponses in an intake Bundle.
//!
//! Item texts are short neutral labels with the item's topic, not the instruments' published wording (which
//! the repository does not carry): a form renders the licensed wording of its own. Scales and cut-offs are
//! CLINICAL.md's. LOINC codes are given where CLINICAL.md or the instrument's LOINC panel names them (PHQ-9
//! 44249-1, GAD-7 69737-5) and for the PHQ-9/GAD-7 answer list (LA6568-5 .. LA6571-9); the others use
//! Continuum's own code systems.
//!
//! The reader keeps one rule of CLINICAL.md: a missing item is never guessed. Every item must be answered
//! once; an answer is passed on as given (an out-of-range number is intake's to refuse, and its refusal comes
//! back at this answer's FHIRPath).

use axum::extract::{Path, Query};
use axum::response::Response;
use continuum_proto::intake::v1 as ipb;
use fhir_model::r4b::codes::{
    BundleType, IssueType, PublicationStatus, QuestionnaireItemType, ResourceType,
};
use fhir_model::r4b::resources::{
    Bundle, BundleEntry, Questionnaire, QuestionnaireItem, QuestionnaireItemAnswerOption,
    QuestionnaireItemAnswerOptionValue, QuestionnaireResponse,
    QuestionnaireResponseItemAnswerValue, Resource,
};
use fhir_model::r4b::types::{Extension, ExtensionValue};
use http::StatusCode;

use super::model::coding;
use super::paths::FieldMap;
use super::vocab::{CANONICAL, LOINC, system};
use crate::error::{Error, Issue, Result};

/// How an instrument's items are answered.
#[derive(Clone, Copy, Debug)]
pub enum Scale {
    /// A choice per item, scored by the option's position (0..): options as (system, code, display).
    Likert(&'static [(&'static str, &'static str)], LikertSystem),
    /// Yes / no per item.
    YesNo,
    /// One whole number from 0 to the maximum.
    Rating(i32),
}

/// Which code system a Likert scale's options are in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LikertSystem {
    /// LOINC answer codes.
    Loinc,
    /// Continuum's code system of that name.
    Own(&'static str),
}

/// One instrument.
#[derive(Clone, Copy, Debug)]
pub struct Instrument {
    /// Logical id (`phq-9`).
    pub id: &'static str,
    /// Title.
    pub title: &'static str,
    /// The LOINC panel, if there is one: (code, display).
    pub loinc: Option<(&'static str, &'static str)>,
    /// Item labels, in order; linkIds are "1", "2", ... except where [`Instrument::link_ids`] says.
    pub items: &'static [&'static str],
    /// The item linkIds when they are not the item numbers.
    pub link_ids: Option<&'static [&'static str]>,
    /// How items are answered.
    pub scale: Scale,
    /// The proto field path of the screener in `SubmitIntakeRequest` (`screeners.phq9`).
    pub field: &'static str,
}

/// PHQ-9 / GAD-7 answers (LOINC answer list LL358-3), scored 0..3.
const FREQUENCY: &[(&str, &str)] = &[
    ("LA6568-5", "Not at all"),
    ("LA6569-3", "Several days"),
    ("LA6570-1", "More than half the days"),
    ("LA6571-9", "Nearly every day"),
];

/// PCL-5 answers, scored 0..4.
const PCL5_SCALE: &[(&str, &str)] = &[
    ("0", "Not at all"),
    ("1", "A little bit"),
    ("2", "Moderately"),
    ("3", "Quite a bit"),
    ("4", "Extremely"),
];

/// The instruments, in the order the CapabilityStatement lists them.
pub const INSTRUMENTS: [Instrument; 5] = [
    Instrument {
        id: "phq-9",
        title: "PHQ-9 (depression), past 2 weeks",
        loinc: Some(("44249-1", "PHQ-9 quick depression assessment panel")),
        items: &[
            "Item 1: interest or pleasure in doing things",
            "Item 2: feeling down or hopeless",
            "Item 3: sleep",
            "Item 4: tiredness or energy",
            "Item 5: appetite",
            "Item 6: how one feels about oneself",
            "Item 7: concentration",
            "Item 8: moving or speaking (slowed or restless)",
            "Item 9: thoughts of being better off dead or of self-harm",
        ],
        link_ids: None,
        scale: Scale::Likert(FREQUENCY, LikertSystem::Loinc),
        field: "screeners.phq9",
    },
    Instrument {
        id: "gad-7",
        title: "GAD-7 (anxiety), past 2 weeks",
        loinc: Some(("69737-5", "Generalized anxiety disorder 7 item (GAD-7)")),
        items: &[
            "Item 1: feeling nervous or on edge",
            "Item 2: not being able to stop worrying",
            "Item 3: worrying too much",
            "Item 4: trouble relaxing",
            "Item 5: restlessness",
            "Item 6: irritability",
            "Item 7: feeling afraid",
        ],
        link_ids: None,
        scale: Scale::Likert(FREQUENCY, LikertSystem::Loinc),
        field: "screeners.gad7",
    },
    Instrument {
        id: "pcl-5",
        title: "PCL-5 (PTSD checklist), past month",
        loinc: None,
        items: &[
            "Item 1 (cluster B, intrusion)",
            "Item 2 (cluster B, intrusion)",
            "Item 3 (cluster B, intrusion)",
            "Item 4 (cluster B, intrusion)",
            "Item 5 (cluster B, intrusion)",
            "Item 6 (cluster C, avoidance)",
            "Item 7 (cluster C, avoidance)",
            "Item 8 (cluster D, cognition and mood)",
            "Item 9 (cluster D, cognition and mood)",
            "Item 10 (cluster D, cognition and mood)",
            "Item 11 (cluster D, cognition and mood)",
            "Item 12 (cluster D, cognition and mood)",
            "Item 13 (cluster D, cognition and mood)",
            "Item 14 (cluster D, cognition and mood)",
            "Item 15 (cluster E, arousal and reactivity)",
            "Item 16 (cluster E, arousal and reactivity)",
            "Item 17 (cluster E, arousal and reactivity)",
            "Item 18 (cluster E, arousal and reactivity)",
            "Item 19 (cluster E, arousal and reactivity)",
            "Item 20 (cluster E, arousal and reactivity)",
        ],
        link_ids: None,
        scale: Scale::Likert(PCL5_SCALE, LikertSystem::Own("pcl-5-answer")),
        field: "screeners.pcl5",
    },
    Instrument {
        id: "c-ssrs-screener",
        title: "C-SSRS screener (suicide risk)",
        loinc: None,
        items: &[
            "Item 1: wish to be dead (past month)",
            "Item 2: non-specific active suicidal thoughts (past month)",
            "Item 3: suicidal thoughts with a method (past month)",
            "Item 4: suicidal intent without a specific plan (past month)",
            "Item 5: suicidal intent with a plan (past month)",
            "Item 6: suicidal behaviour (ever)",
            "Item 6a: was the behaviour within the past 3 months? (answer when item 6 is yes)",
        ],
        link_ids: Some(&["1", "2", "3", "4", "5", "6", "6a"]),
        scale: Scale::YesNo,
        field: "screeners.cssrs",
    },
    Instrument {
        id: "readiness-ruler",
        title: "Readiness ruler (readiness to change)",
        loinc: None,
        items: &["How ready are you to make a change? 0 (not at all) to 10 (completely)"],
        link_ids: None,
        scale: Scale::Rating(10),
        field: "screeners.readiness_ruler",
    },
];

/// The C-SSRS items in proto order (the proto has one field per item).
const CSSRS_FIELDS: [&str; 7] = [
    "wish_to_be_dead",
    "suicidal_thoughts",
    "thoughts_with_method",
    "intent_without_plan",
    "intent_with_plan",
    "suicidal_behaviour",
    "behaviour_past_three_months",
];

impl Instrument {
    /// The instrument with logical id `id`.
    pub fn find(id: &str) -> Option<&'static Instrument> {
        INSTRUMENTS.iter().find(|i| i.id == id)
    }

    /// The canonical URL of its Questionnaire.
    pub fn url(&self) -> String {
        format!("{CANONICAL}/Questionnaire/{}", self.id)
    }

    /// The linkId of item `index` (0-based).
    pub fn link_id(&self, index: usize) -> String {
        match self.link_ids {
            Some(ids) => ids.get(index).map(|s| (*s).to_owned()).unwrap_or_default(),
            None => (index + 1).to_string(),
        }
    }

    /// The index of the item with `link_id`.
    pub fn index_of(&self, link_id: &str) -> Option<usize> {
        (0..self.items.len()).find(|i| self.link_id(*i) == link_id)
    }

    /// The instrument a `QuestionnaireResponse.questionnaire` canonical names: Continuum's URL, or any URL
    /// or relative reference ending in `Questionnaire/<id>` (a `|version` suffix is ignored).
    pub fn from_canonical(canonical: &str) -> Option<&'static Instrument> {
        let url = canonical.split('|').next().unwrap_or_default();
        let id = url.rsplit_once("Questionnaire/").map(|(_, id)| id)?;
        Instrument::find(id)
    }

    /// The Questionnaire resource.
    pub fn questionnaire(&self) -> std::result::Result<Questionnaire, fhir_model::BuilderError> {
        let mut items = Vec::with_capacity(self.items.len());
        for (i, label) in self.items.iter().enumerate() {
            let mut item = QuestionnaireItem::builder()
                .link_id(self.link_id(i))
                .text((*label).to_owned())
                .required(!(matches!(self.scale, Scale::YesNo) && i == 6));
            item = match self.scale {
                Scale::Likert(options, sys) => {
                    let system = option_system(sys);
                    let mut answer_options = Vec::with_capacity(options.len());
                    for (score, (code, display)) in options.iter().enumerate() {
                        let ordinal = Extension::builder()
                            .url("http://hl7.org/fhir/StructureDefinition/ordinalValue".to_owned())
                            .value(ExtensionValue::Decimal(score as f64))
                            .build()?;
                        answer_options.push(Some(
                            QuestionnaireItemAnswerOption::builder()
                                .extension(vec![ordinal])
                                .value(QuestionnaireItemAnswerOptionValue::Coding(coding(
                                    &system,
                                    code,
                                    Some(display),
                                )?))
                                .build()?,
                        ));
                    }
                    item.r#type(QuestionnaireItemType::Choice).answer_option(answer_options)
                }
                Scale::YesNo => item.r#type(QuestionnaireItemType::Boolean),
                Scale::Rating(max) => {
                    let bound = |url: &str, v: i32| {
                        Extension::builder()
                            .url(url.to_owned())
                            .value(ExtensionValue::Integer(v))
                            .build()
                    };
                    item.r#type(QuestionnaireItemType::Integer).extension(vec![
                        bound("http://hl7.org/fhir/StructureDefinition/minValue", 0)?,
                        bound("http://hl7.org/fhir/StructureDefinition/maxValue", max)?,
                    ])
                }
            };
            items.push(Some(item.build()?));
        }
        let mut q = Questionnaire::builder()
            .id(self.id.to_owned())
            .url(self.url())
            .name(self.id.replace('-', "_").to_uppercase())
            .title(self.title.to_owned())
            .status(PublicationStatus::Active)
            .subject_type(vec![Some(ResourceType::Patient)])
            .item(items);
        if let Some((code, display)) = self.loinc {
            q = q.code(vec![Some(coding(LOINC, code, Some(display))?)]);
        }
        q.build()
    }
}

fn option_system(sys: LikertSystem) -> String {
    match sys {
        LikertSystem::Loinc => LOINC.to_owned(),
        LikertSystem::Own(name) => system(name),
    }
}

/// `GET /fhir/Questionnaire/{id}`.
pub async fn read(Path(id): Path<String>) -> Result<Response> {
    let instrument = Instrument::find(&id).ok_or_else(|| {
        Error::NotFound(format!(
            "no Questionnaire {id:?}: the instruments are {}",
            INSTRUMENTS.map(|i| i.id).join(", ")
        ))
    })?;
    Ok(super::fhir_json(StatusCode::OK, &instrument.questionnaire()?))
}

/// The search parameters of `GET /fhir/Questionnaire`.
#[derive(Debug, serde::Deserialize)]
pub struct SearchParams {
    /// `url`: only the instrument with this canonical URL.
    pub url: Option<String>,
}

/// `GET /fhir/Questionnaire`: a searchset of every instrument (or the one `url` names).
pub async fn search(Query(params): Query<SearchParams>) -> Result<Response> {
    let mut entries = Vec::new();
    for i in INSTRUMENTS.iter().filter(|i| params.url.as_ref().is_none_or(|u| *u == i.url())) {
        entries.push(Some(
            BundleEntry::builder()
                .full_url(i.url())
                .resource(Resource::Questionnaire(i.questionnaire()?))
                .build()?,
        ));
    }
    let bundle = Bundle::builder()
        .r#type(BundleType::Searchset)
        .total(u32::try_from(entries.len()).unwrap_or(0))
        .entry(entries)
        .build()?;
    Ok(super::fhir_json(StatusCode::OK, &bundle))
}

/// Reads one QuestionnaireResponse (at `base`, e.g. `Bundle.entry[1].resource`) into `screeners`,
/// recording in `fields` where each proto field came from. Problems the gateway can see (an unknown
/// instrument or linkId, an item missing or answered twice, an answer of the wrong type) are returned; the
/// values themselves are passed on for intake to judge.
pub fn read_response(
    qr: &QuestionnaireResponse,
    base: &str,
    screeners: &mut ipb::Screeners,
    fields: &mut FieldMap,
) -> std::result::Result<&'static Instrument, Vec<Issue>> {
    let Some(instrument) = qr.questionnaire.as_deref().and_then(Instrument::from_canonical) else {
        return Err(vec![Issue::at(
            IssueType::NotSupported,
            format!("{base}.questionnaire"),
            format!("questionnaire must name one of {}", INSTRUMENTS.map(|i| i.url()).join(", ")),
        )]);
    };
    let mut issues = Vec::new();
    let n = instrument.items.len();
    let mut answers: Vec<Option<(usize, QuestionnaireResponseItemAnswerValue)>> = vec![None; n];
    for (k, item) in qr.item.iter().enumerate() {
        let Some(item) = item else { continue };
        let at = format!("{base}.item[{k}]");
        let Some(index) = instrument.index_of(&item.link_id) else {
            issues.push(Issue::at(
                IssueType::Value,
                format!("{at}.linkId"),
                format!("{} has no item with linkId {:?}", instrument.id, item.link_id),
            ));
            continue;
        };
        if answers[index].is_some() {
            issues.push(Issue::at(
                IssueType::Value,
                format!("{at}.linkId"),
                format!("item {:?} is answered more than once", item.link_id),
            ));
            continue;
        }
        let given: Vec<_> = item.answer.iter().flatten().filter_map(|a| a.value.clone()).collect();
        match given.as_slice() {
            [value] => answers[index] = Some((k, value.clone())),
            [] => issues.push(Issue::at(
                IssueType::Required,
                format!("{at}.answer"),
                format!("item {:?} has no answer", item.link_id),
            )),
            _ => issues.push(Issue::at(
                IssueType::Value,
                format!("{at}.answer"),
                format!("item {:?} must have exactly one answer", item.link_id),
            )),
        }
    }
    // The C-SSRS item 6a is answered only when item 6 is yes; every other item must be there.
    for (index, answer) in answers.iter().enumerate() {
        let optional = matches!(instrument.scale, Scale::YesNo) && index == 6;
        if answer.is_none() && !optional {
            issues.push(Issue::at(
                IssueType::Required,
                format!("{base}.item"),
                format!(
                    "item {:?} of {} is missing (a missing item is never guessed)",
                    instrument.link_id(index),
                    instrument.id
                ),
            ));
        }
    }
    let at = |k: usize| format!("{base}.item[{k}].answer[0]");
    match instrument.scale {
        Scale::Likert(options, sys) => {
            let system = option_system(sys);
            let mut items = Vec::with_capacity(n);
            for (index, answer) in answers.iter().enumerate() {
                let Some((k, value)) = answer else { continue };
                let score = match value {
                    QuestionnaireResponseItemAnswerValue::Integer(v) => Some(*v),
                    QuestionnaireResponseItemAnswerValue::Coding(c) => options
                        .iter()
                        .position(|(code, _)| {
                            c.code.as_deref() == Some(*code)
                                && c.system.as_deref().is_none_or(|s| s == system)
                        })
                        .and_then(|p| i32::try_from(p).ok()),
                    _ => None,
                };
                match score {
                    Some(s) => {
                        fields.insert(format!("{}.items[{index}]", instrument.field), at(*k));
                        items.push(s);
                    }
                    None => issues.push(Issue::at(
                        IssueType::Value,
                        at(*k),
                        format!(
                            "answer must be valueCoding from {system} ({}) or valueInteger",
                            options.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ")
                        ),
                    )),
                }
            }
            fields.insert(instrument.field, base);
            let filled = Some(items);
            match instrument.id {
                "phq-9" => screeners.phq9 = filled.map(|items| ipb::Phq9 { items }),
                "gad-7" => screeners.gad7 = filled.map(|items| ipb::Gad7 { items }),
                _ => screeners.pcl5 = filled.map(|items| ipb::Pcl5 { items }),
            }
        }
        Scale::YesNo => {
            let mut yes = [false; 7];
            for (index, answer) in answers.iter().enumerate() {
                let Some((k, value)) = answer else { continue };
                match value {
                    QuestionnaireResponseItemAnswerValue::Boolean(b) => {
                        yes[index] = *b;
                        fields.insert(
                            format!("{}.{}", instrument.field, CSSRS_FIELDS[index]),
                            at(*k),
                        );
                    }
                    _ => issues.push(Issue::at(
                        IssueType::Value,
                        at(*k),
                        "answer must be valueBoolean",
                    )),
                }
            }
            fields.insert(instrument.field, base);
            screeners.cssrs = Some(ipb::Cssrs {
                wish_to_be_dead: yes[0],
                suicidal_thoughts: yes[1],
                thoughts_with_method: yes[2],
                intent_without_plan: yes[3],
                intent_with_plan: yes[4],
                suicidal_behaviour: yes[5],
                behaviour_past_three_months: yes[6],
            });
        }
        Scale::Rating(_) => {
            if let Some((k, value)) = &answers[0] {
                match value {
                    QuestionnaireResponseItemAnswerValue::Integer(v) => {
                        fields.insert(format!("{}.rating", instrument.field), at(*k));
                        screeners.readiness_ruler = Some(ipb::ReadinessRuler { rating: *v });
                    }
                    _ => issues.push(Issue::at(
                        IssueType::Value,
                        at(*k),
                        "answer must be valueInteger",
                    )),
                }
            }
            fields.insert(instrument.field, base);
        }
    }
    if issues.is_empty() { Ok(instrument) } else { Err(issues) }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn response(questionnaire: &str, answers: serde_json::Value) -> QuestionnaireResponse {
        serde_json::from_value(serde_json::json!({
            "resourceType": "QuestionnaireResponse",
            "status": "completed",
            "questionnaire": questionnaire,
            "item": answers,
        }))
        .unwrap()
    }

    fn phq9_items(values: &[i32]) -> serde_json::Value {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                serde_json::json!({"linkId": (i + 1).to_string(), "answer": [{"valueInteger": v}]})
            })
            .collect()
    }

    #[test]
    fn every_instrument_is_a_questionnaire_that_round_trips() {
        for i in INSTRUMENTS {
            let q = i.questionnaire().unwrap();
            let json = serde_json::to_value(&q).unwrap();
            let back: Questionnaire = serde_json::from_value(json.clone()).unwrap();
            assert_eq!(serde_json::to_value(&back).unwrap(), json, "{}", i.id);
            assert_eq!(json["item"].as_array().unwrap().len(), i.items.len());
        }
        let phq = serde_json::to_value(Instrument::find("phq-9").unwrap().questionnaire().unwrap())
            .unwrap();
        assert_eq!(phq["code"][0]["code"], "44249-1");
        assert_eq!(phq["item"][0]["answerOption"][3]["valueCoding"]["code"], "LA6571-9");
    }

    #[test]
    fn answers_are_passed_on_as_given_and_mapped_to_their_fhirpath() {
        let qr = response(
            "https://continuum.example.org/fhir/Questionnaire/phq-9",
            phq9_items(&[2, 2, 1, 1, 7, 1, 1, 2, 0]),
        );
        let mut s = ipb::Screeners::default();
        let mut m = FieldMap::default();
        let i = read_response(&qr, "Bundle.entry[1].resource", &mut s, &mut m).unwrap();
        assert_eq!(i.id, "phq-9");
        assert_eq!(s.phq9.unwrap().items, vec![2, 2, 1, 1, 7, 1, 1, 2, 0]);
        assert_eq!(
            m.expression_for("screeners.phq9.items[4]").as_deref(),
            Some("Bundle.entry[1].resource.item[4].answer[0]")
        );
    }

    #[test]
    fn coded_answers_score_by_position_and_items_may_come_in_any_order() {
        let mut items: Vec<serde_json::Value> = (1..=7)
            .map(|n| {
                serde_json::json!({"linkId": n.to_string(), "answer": [{"valueCoding": {"system": "http://loinc.org", "code": "LA6570-1"}}]})
            })
            .collect();
        items.reverse();
        let qr = response("Questionnaire/gad-7", serde_json::Value::Array(items));
        let mut s = ipb::Screeners::default();
        let mut m = FieldMap::default();
        read_response(&qr, "Bundle.entry[2].resource", &mut s, &mut m).unwrap();
        assert_eq!(s.gad7.unwrap().items, vec![2; 7]);
        // Item 1 is the last in the response.
        assert_eq!(
            m.expression_for("screeners.gad7.items[0]").as_deref(),
            Some("Bundle.entry[2].resource.item[6].answer[0]")
        );
    }

    #[test]
    fn missing_unknown_and_mistyped_items_are_named() {
        let mut items = phq9_items(&[1, 1, 1, 1, 1, 1, 1, 1]);
        items
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"linkId": "42", "answer": [{"valueInteger": 1}]}));
        items.as_array_mut().unwrap()[0]["answer"][0] = serde_json::json!({"valueString": "often"});
        let qr = response("Questionnaire/phq-9", items);
        let issues =
            read_response(&qr, "B", &mut ipb::Screeners::default(), &mut FieldMap::default())
                .unwrap_err();
        let at: Vec<_> = issues.iter().map(|i| i.expression.clone().unwrap()).collect();
        assert!(at.contains(&"B.item[8].linkId".to_owned()), "{at:?}");
        assert!(at.contains(&"B.item".to_owned()), "item 9 missing: {at:?}");
        assert!(at.contains(&"B.item[0].answer[0]".to_owned()), "{at:?}");
        let unknown = response("Questionnaire/beck", serde_json::json!([]));
        let issues =
            read_response(&unknown, "B", &mut ipb::Screeners::default(), &mut FieldMap::default())
                .unwrap_err();
        assert_eq!(issues[0].expression.as_deref(), Some("B.questionnaire"));
    }

    #[test]
    fn cssrs_item_6a_is_optional_and_booleans_map_to_fields() {
        let items: Vec<_> = (1..=6)
            .map(|n| serde_json::json!({"linkId": n.to_string(), "answer": [{"valueBoolean": n == 4}]}))
            .collect();
        let qr = response("Questionnaire/c-ssrs-screener", serde_json::Value::Array(items));
        let mut s = ipb::Screeners::default();
        let mut m = FieldMap::default();
        read_response(&qr, "B", &mut s, &mut m).unwrap();
        let c = s.cssrs.unwrap();
        assert!(c.intent_without_plan && !c.wish_to_be_dead && !c.behaviour_past_three_months);
        assert_eq!(
            m.expression_for("screeners.cssrs.intent_without_plan").as_deref(),
            Some("B.item[3].answer[0]")
        );
    }
}

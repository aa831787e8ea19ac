//! The intake's own coded vocabulary (dysregulation, stressors, consent categories, ...), as plain domain
//! enums. Each is stored and written in rules as a stable lowercase code; its position in `ALL` is its
//! proto number minus one (the adapter converts, domain code never sees prost types).

use serde::{Deserialize, Serialize};

macro_rules! codes {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident => $code:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $var),+ }

        impl $name {
            /// Every value, in proto order (proto number = index + 1).
            pub const ALL: &'static [$name] = &[$($name::$var),+];

            /// The value for a proto number; `None` for 0 or an unknown number.
            pub fn from_number(n: i32) -> Option<Self> {
                usize::try_from(n).ok().and_then(|n| n.checked_sub(1)).and_then(|i| Self::ALL.get(i).copied())
            }

            /// The proto number.
            pub fn number(self) -> i32 {
                Self::ALL.iter().position(|x| *x == self).and_then(|i| i32::try_from(i + 1).ok()).unwrap_or(0)
            }

            /// The stable lowercase code.
            pub fn code(self) -> &'static str {
                match self { $($name::$var => $code),+ }
            }
        }
    };
}

codes! {
    /// A coded presenting concern.
    Concern {
        /// Depression.
        Depression => "depression",
        /// Anxiety.
        Anxiety => "anxiety",
        /// Panic.
        Panic => "panic",
        /// Trauma.
        Trauma => "trauma",
        /// Substance use.
        SubstanceUse => "substance_use",
        /// Suicidality.
        Suicidality => "suicidality",
        /// Psychosis.
        Psychosis => "psychosis",
        /// Mania.
        Mania => "mania",
        /// Eating.
        Eating => "eating",
        /// OCD.
        Ocd => "ocd",
        /// Sleep.
        Sleep => "sleep",
        /// Social conflict.
        SocialConflict => "social_conflict",
        /// Emotion regulation.
        EmotionRegulation => "emotion_regulation",
        /// Grief.
        Grief => "grief",
        /// Quality of life.
        QualityOfLife => "quality_of_life",
    }
}

codes! {
    /// How often (past month), ordered.
    Frequency {
        /// Never.
        Never => "never",
        /// Less than monthly.
        Rarely => "rarely",
        /// Monthly.
        Monthly => "monthly",
        /// Weekly.
        Weekly => "weekly",
        /// Daily.
        Daily => "daily",
    }
}

codes! {
    /// Clinician's window-of-tolerance rating.
    WindowRating {
        /// Within the window.
        Within => "within",
        /// Hyperaroused.
        Hyperaroused => "hyperaroused",
        /// Hypoaroused.
        Hypoaroused => "hypoaroused",
        /// Outside.
        Outside => "outside",
    }
}

codes! {
    /// Functional impairment, ordered.
    Impairment {
        /// None.
        None => "none",
        /// Mild.
        Mild => "mild",
        /// Moderate.
        Moderate => "moderate",
        /// Severe.
        Severe => "severe",
    }
}

codes! {
    /// Substance use, ordered.
    SubstanceUse {
        /// None.
        None => "none",
        /// Low risk.
        LowRisk => "low_risk",
        /// Hazardous.
        Hazardous => "hazardous",
        /// Dependence suspected.
        Dependence => "dependence",
    }
}

codes! {
    /// External stressor.
    Stressor {
        /// Housing instability.
        HousingInstability => "housing_instability",
        /// Unsafe environment.
        UnsafeEnvironment => "unsafe_environment",
        /// Food insecurity.
        FoodInsecurity => "food_insecurity",
        /// Bereavement.
        Bereavement => "bereavement",
        /// Other loss.
        OtherLoss => "other_loss",
        /// Caregiving.
        Caregiving => "caregiving",
        /// Work or school.
        WorkOrSchool => "work_or_school",
        /// Financial.
        Financial => "financial",
        /// Legal.
        Legal => "legal",
    }
}

codes! {
    /// A support the client has.
    Support {
        /// Family.
        Family => "family",
        /// Friends.
        Friends => "friends",
        /// Partner.
        Partner => "partner",
        /// Community group.
        CommunityGroup => "community_group",
        /// Faith community.
        FaithCommunity => "faith_community",
        /// Peer group.
        PeerGroup => "peer_group",
        /// School or work.
        SchoolOrWork => "school_or_work",
        /// Case manager.
        CaseManager => "case_manager",
    }
}

codes! {
    /// Whether a past treatment helped.
    TreatmentOutcome {
        /// Helped.
        Helped => "helped",
        /// Partly.
        Partly => "partly",
        /// Did not help.
        DidNotHelp => "did_not_help",
    }
}

codes! {
    /// Stage of change, ordered.
    StageOfChange {
        /// Precontemplation.
        Precontemplation => "precontemplation",
        /// Contemplation.
        Contemplation => "contemplation",
        /// Preparation.
        Preparation => "preparation",
        /// Action.
        Action => "action",
        /// Maintenance.
        Maintenance => "maintenance",
    }
}

codes! {
    /// Engagement approach.
    Engagement {
        /// Engagement first.
        EngagementFirst => "engagement_first",
        /// Action oriented.
        ActionOriented => "action_oriented",
        /// Relapse prevention.
        RelapsePrevention => "relapse_prevention",
    }
}

codes! {
    /// Consent categories.
    ConsentCategory {
        /// Identity and contact.
        IdentityAndContact => "identity_and_contact",
        /// Screening and assessment.
        ScreeningAndAssessment => "screening_and_assessment",
        /// Presenting concerns.
        PresentingConcerns => "presenting_concerns",
        /// Treatment history.
        TreatmentHistory => "treatment_history",
        /// Social context.
        SocialContext => "social_context",
        /// Substance use (its own consent only).
        SubstanceUse => "substance_use",
    }
}

codes! {
    /// Somatic or talk.
    Approach {
        /// Somatic.
        Somatic => "somatic",
        /// Talk.
        Talk => "talk",
        /// Either.
        Either => "either",
    }
}

codes! {
    /// Group or individual.
    Setting {
        /// Group.
        Group => "group",
        /// Individual.
        Individual => "individual",
        /// Either.
        Either => "either",
    }
}

codes! {
    /// When the client can attend.
    Availability {
        /// Weekdays during working hours.
        WeekdayDaytime => "weekday_daytime",
        /// Weekday evenings.
        WeekdayEvening => "weekday_evening",
        /// Weekends.
        Weekend => "weekend",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip() {
        for s in Stressor::ALL {
            assert_eq!(Stressor::from_number(s.number()), Some(*s));
        }
        assert_eq!(Frequency::from_number(0), None);
        assert_eq!(Frequency::from_number(6), None);
        assert_eq!(Frequency::from_number(-1), None);
        assert_eq!(Frequency::Weekly.number(), 4);
        assert!(Frequency::Daily > Frequency::Weekly);
    }
}

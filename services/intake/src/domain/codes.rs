//! The intake's own coded vocabulary (dysregulation, stressors, consent categories, ...), as plain domain
//! enums. Each is stored and written in rules as a stable lowercase code; its position in `ALL` is its
//! proto number minus one (the adapter converts, domain code never sees prost types).

/// A coded presenting concern: the problem domains matching measures outcomes in.
pub use continuum_vocab::ProblemDomain as Concern;

continuum_vocab::coded_enum! {
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

continuum_vocab::coded_enum! {
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

continuum_vocab::coded_enum! {
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

continuum_vocab::coded_enum! {
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

continuum_vocab::coded_enum! {
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

continuum_vocab::coded_enum! {
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

continuum_vocab::coded_enum! {
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

continuum_vocab::coded_enum! {
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

continuum_vocab::coded_enum! {
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

continuum_vocab::coded_enum! {
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

continuum_vocab::coded_enum! {
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

continuum_vocab::coded_enum! {
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

continuum_vocab::coded_enum! {
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
            assert_eq!(Stressor::from_proto(s.to_proto()), Some(*s));
        }
        assert_eq!(Frequency::from_proto(0), None);
        assert_eq!(Frequency::from_proto(6), None);
        assert_eq!(Frequency::from_proto(-1), None);
        assert_eq!(Frequency::Weekly.to_proto(), 4);
        assert!(Frequency::Daily > Frequency::Weekly);
    }
}

#[cfg(test)]
mod proto_mirror_tests {
    use super::*;
    use continuum_proto::intake::v1 as pb;

    #[test]
    fn intake_vocabularies_mirror_their_protos() {
        continuum_vocab::assert_mirrors_proto(
            &Frequency::ALL.iter().map(|x| x.code()).collect::<Vec<_>>(),
            |n| pb::Frequency::try_from(n).ok().map(|e| e.as_str_name()),
        );
        continuum_vocab::assert_mirrors_proto(
            &WindowRating::ALL.iter().map(|x| x.code()).collect::<Vec<_>>(),
            |n| pb::WindowOfTolerance::try_from(n).ok().map(|e| e.as_str_name()),
        );
        continuum_vocab::assert_mirrors_proto(
            &Impairment::ALL.iter().map(|x| x.code()).collect::<Vec<_>>(),
            |n| pb::FunctionalImpairment::try_from(n).ok().map(|e| e.as_str_name()),
        );
        continuum_vocab::assert_mirrors_proto(
            &SubstanceUse::ALL.iter().map(|x| x.code()).collect::<Vec<_>>(),
            |n| pb::SubstanceUse::try_from(n).ok().map(|e| e.as_str_name()),
        );
        continuum_vocab::assert_mirrors_proto(
            &Stressor::ALL.iter().map(|x| x.code()).collect::<Vec<_>>(),
            |n| pb::Stressor::try_from(n).ok().map(|e| e.as_str_name()),
        );
        continuum_vocab::assert_mirrors_proto(
            &Support::ALL.iter().map(|x| x.code()).collect::<Vec<_>>(),
            |n| pb::Support::try_from(n).ok().map(|e| e.as_str_name()),
        );
        continuum_vocab::assert_mirrors_proto(
            &TreatmentOutcome::ALL.iter().map(|x| x.code()).collect::<Vec<_>>(),
            |n| pb::TreatmentOutcome::try_from(n).ok().map(|e| e.as_str_name()),
        );
        continuum_vocab::assert_mirrors_proto(
            &StageOfChange::ALL.iter().map(|x| x.code()).collect::<Vec<_>>(),
            |n| pb::StageOfChange::try_from(n).ok().map(|e| e.as_str_name()),
        );
        continuum_vocab::assert_mirrors_proto(
            &Engagement::ALL.iter().map(|x| x.code()).collect::<Vec<_>>(),
            |n| pb::EngagementApproach::try_from(n).ok().map(|e| e.as_str_name()),
        );
        continuum_vocab::assert_mirrors_proto(
            &ConsentCategory::ALL.iter().map(|x| x.code()).collect::<Vec<_>>(),
            |n| pb::ConsentCategory::try_from(n).ok().map(|e| e.as_str_name()),
        );
        continuum_vocab::assert_mirrors_proto(
            &Approach::ALL.iter().map(|x| x.code()).collect::<Vec<_>>(),
            |n| pb::ApproachPreference::try_from(n).ok().map(|e| e.as_str_name()),
        );
        continuum_vocab::assert_mirrors_proto(
            &Setting::ALL.iter().map(|x| x.code()).collect::<Vec<_>>(),
            |n| pb::SettingPreference::try_from(n).ok().map(|e| e.as_str_name()),
        );
        continuum_vocab::assert_mirrors_proto(
            &Availability::ALL.iter().map(|x| x.code()).collect::<Vec<_>>(),
            |n| pb::Availability::try_from(n).ok().map(|e| e.as_str_name()),
        );
    }
}

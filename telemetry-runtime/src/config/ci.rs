//! CI detection: one table of the variables CI services set.
//!
//! Invariant: a variable counts when it is set to anything but empty, `0` or `false` (bytes
//! that are not Unicode count as set); the first variable of the table that counts is named as
//! the reason.

use super::env::Env;

/// The variables that mean "running in CI", with the service that sets each.
///
/// ```
/// use telemetry_runtime::config::CI_VARIABLES;
/// assert!(CI_VARIABLES.iter().any(|(var, _)| *var == "GITHUB_ACTIONS"));
/// ```
pub const CI_VARIABLES: &[(&str, &str)] = &[
    ("CI", "generic (set by most services)"),
    ("GITHUB_ACTIONS", "GitHub Actions"),
    ("GITLAB_CI", "GitLab CI"),
    ("TF_BUILD", "Azure Pipelines"),
    ("JENKINS_URL", "Jenkins"),
    ("BUILDKITE", "Buildkite"),
    ("TEAMCITY_VERSION", "TeamCity"),
    ("CIRCLECI", "CircleCI"),
    ("CODEBUILD_BUILD_ID", "AWS CodeBuild"),
    ("TRAVIS", "Travis CI"),
    ("BITBUCKET_BUILD_NUMBER", "Bitbucket Pipelines"),
    ("DRONE", "Drone"),
    ("WOODPECKER", "Woodpecker"),
    ("CI_PIPELINE_ID", "Woodpecker / GitLab"),
    ("APPVEYOR", "AppVeyor"),
    ("SEMAPHORE", "Semaphore"),
    ("CIRRUS_CI", "Cirrus CI"),
    ("BITRISE_IO", "Bitrise"),
    ("BUDDY", "Buddy"),
    ("CF_BUILD_ID", "Codefresh"),
    ("HEROKU_TEST_RUN_ID", "Heroku CI"),
];

/// The first CI variable of [`CI_VARIABLES`] that is set in `env`, if any.
pub(crate) fn detect(env: &Env) -> Option<&'static str> {
    CI_VARIABLES
        .iter()
        .map(|(var, _)| *var)
        .find(|var| env.is_truthy(var))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_set_is_not_ci() {
        assert_eq!(detect(&Env::empty()), None);
        let env = Env::from_pairs([("GITHUB_ACTIONS", "false"), ("CI", "0"), ("TRAVIS", "")]);
        assert_eq!(detect(&env), None);
    }

    #[test]
    fn every_variable_of_the_table_is_detected_alone() {
        for (var, _) in CI_VARIABLES {
            assert_eq!(detect(&Env::from_pairs([(*var, "true")])), Some(*var));
        }
    }
}

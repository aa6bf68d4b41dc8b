//! The rules against a table of inputs and their expected outputs.

use super::*;

/// Input → expected output, for [`bob`].
const TABLE: &[(&str, &str)] = &[
    // Empty and plain strings, near misses: unchanged.
    ("", ""),
    ("read_file", "read_file"),
    ("root", "root"),
    ("call", "call"),
    (
        "550e8400-e29b-41d4-a716-446655440000",
        "550e8400-e29b-41d4-a716-446655440000",
    ),
    ("1.2.3", "1.2.3"),
    ("v0.10.0-beta.1", "v0.10.0-beta.1"),
    (
        "upgrade from 1.75.0 to 1.89.0",
        "upgrade from 1.75.0 to 1.89.0",
    ),
    ("commit 3f2a9c1", "commit 3f2a9c1"),
    ("fixed in 3f2a9c1d8e7b", "fixed in 3f2a9c1d8e7b"),
    // 31 hex digits: one short of a secret.
    (
        "0123456789abcdef0123456789abcde",
        "0123456789abcdef0123456789abcde",
    ),
    (
        "the quick brown fox jumps over the lazy dog",
        "the quick brown fox jumps over the lazy dog",
    ),
    ("bobcat and kebob", "bobcat and kebob"),
    ("bob2 is not bob", "bob2 is not <user>"),
    ("/usr/local/bin/cagent", "/usr/local/bin/cagent"),
    (
        "/usr/lib/x86_64-linux-gnu/libssl.so.3",
        "/usr/lib/x86_64-linux-gnu/libssl.so.3",
    ),
    ("/home/bobby/notes", "/home/bobby/notes"),
    (
        "Pneumonoultramicroscopicsilicovolcanoconiosis",
        "Pneumonoultramicroscopicsilicovolcanoconiosis",
    ),
    (
        "ThisIsAVeryLongCamelCaseIdentifierName",
        "ThisIsAVeryLongCamelCaseIdentifierName",
    ),
    ("key abcdefghijklmnopqrstuvwxyzABCDEFGHIJ", "key <redacted>"),
    (
        "my_really_long_function_name_without_digits",
        "my_really_long_function_name_without_digits",
    ),
    (
        "Release-Candidate-2-For-Windows-x64-Installer",
        "Release-Candidate-2-For-Windows-x64-Installer",
    ),
    ("max_tokens: 4096", "max_tokens: 4096"),
    ("token count exceeded", "token count exceeded"),
    ("日本語のテキスト", "日本語のテキスト"),
    ("Grüße, José! 🎉", "Grüße, José! 🎉"),
    // Home directory and login name.
    ("/home/bob", "~"),
    (
        "open /home/bob/.config/cagent/config.yaml: denied",
        "open ~/.config/cagent/config.yaml: denied",
    ),
    ("cd /home/bob && make", "cd ~ && make"),
    ("'/home/bob/My Documents/x.txt'", "'~/My Documents/x.txt'"),
    ("/mnt/home/bob/data", "/mnt/home/<user>/data"),
    ("/srv/bob/data", "/srv/<user>/data"),
    ("hello bob, bob's file", "hello <user>, <user>'s file"),
    ("Bob", "<user>"),
    ("bob-laptop.local", "<user>-laptop.local"),
    // E-mail addresses.
    (
        "contact jane.doe+tag@example.co.uk now",
        "contact <email> now",
    ),
    ("bob@example.com", "<email>"),
    ("git@github.com:org/repo.git", "<email>:org/repo.git"),
    (
        "@decorator and user@localhost",
        "@decorator and user@localhost",
    ),
    // URL credentials.
    (
        "https://alice:s3cr3t@example.com/path",
        "https://example.com/path",
    ),
    (
        "postgres://admin:p@ss@db.internal:5432/app",
        "postgres://db.internal:5432/app",
    ),
    (
        "https://ghp_token@github.com/org/repo",
        "https://github.com/org/repo",
    ),
    ("https://example.com/a@b", "https://example.com/a@b"),
    // Secret assignments.
    ("api_key=abc123", "api_key=<redacted>"),
    ("APIKEY=abc123&user=x", "APIKEY=<redacted>&user=x"),
    (
        "?access_token=xyz&page=2",
        "?access_token=<redacted>&page=2",
    ),
    ("Password: hunter2", "Password: <redacted>"),
    ("passwd=letmein", "passwd=<redacted>"),
    ("secret = 'a b c'", "secret = '<redacted>'"),
    (
        r#"{"client_secret": "s p a c e", "id": 1}"#,
        r#"{"client_secret": "<redacted>", "id": 1}"#,
    ),
    ("GITHUB_TOKEN=whatever", "GITHUB_TOKEN=<redacted>"),
    ("--password=hunter2", "--password=<redacted>"),
    ("x-api-key: abc", "x-api-key: <redacted>"),
    ("pwd=hunter2", "pwd=<redacted>"),
    ("pass=hunter2", "pass=<redacted>"),
    ("DB_PASS=hunter2", "DB_PASS=<redacted>"),
    ("passwd = letmein", "passwd = <redacted>"),
    (":password => \"x\"", ":password => \"<redacted>\""),
    ("'password' => 'x y'", "'password' => '<redacted>'"),
    ("--password hunter2", "--password <redacted>"),
    (
        "run --token abc123 --verbose",
        "run --token <redacted> --verbose",
    ),
    ("--Password \"two words\"", "--Password \"<redacted>\""),
    ("--api-key\tabc", "--api-key\t<redacted>"),
    // Unclosed quotes: redacted to the end.
    ("password=\"hunter2", "password=\"<redacted>"),
    ("secret='hunter2 tail", "secret='<redacted>"),
    ("--password \"hunter2 tail", "--password \"<redacted>"),
    ("password=\"\"", "password=\"\""),
    // Near misses of the secret keys.
    ("--password-file ./p", "--password-file ./p"),
    ("passes=3", "passes=3"),
    ("compass=north", "compass=north"),
    ("bypass=1", "bypass=1"),
    ("the password is wrong", "the password is wrong"),
    ("tests pass", "tests pass"),
    ("-- password x", "-- password x"),
    ("--token", "--token"),
    // Rails and Azure spellings.
    (
        "secret_key_base: 9f3a1c0e7d5b",
        "secret_key_base: <redacted>",
    ),
    ("SECRET_KEY_BASE=abc", "SECRET_KEY_BASE=<redacted>"),
    (
        "GET /c/b?sv=2022-11-02&sig=Ab12%2Bcd%3D&se=x",
        "GET /c/b?sv=2022-11-02&sig=<redacted>&se=x",
    ),
    ("design=1 signal: 9", "design=1 signal: 9"),
    // Cookies.
    (
        "Cookie: session=abc123; theme=dark",
        "Cookie: session=<redacted>; theme=<redacted>",
    ),
    (
        "Set-Cookie: sid=31d4d96e407aad42; Path=/; HttpOnly",
        "Set-Cookie: sid=<redacted>; Path=<redacted>; HttpOnly",
    ),
    (r#""cookie": "abc123""#, r#""cookie": "<redacted>""#),
    ("cookie jar", "cookie jar"),
    ("cookies: 3 eaten", "cookies: 3 eaten"),
    // Passwords on command lines.
    (
        "curl -u admin:hunter2 https://x.test/",
        "curl -u admin:<redacted> https://x.test/",
    ),
    (
        "curl --user admin:hunter2 -X GET",
        "curl --user admin:<redacted> -X GET",
    ),
    ("curl --user=admin:hunter2", "curl --user=admin:<redacted>"),
    ("-uadmin:hunter2", "-uadmin:<redacted>"),
    (
        "curl -u 'admin:two words'",
        "curl -u 'admin:<redacted> words'",
    ),
    (
        "mysql -uroot -phunter2 app",
        "mysql -uroot -p<redacted> app",
    ),
    (
        "/usr/bin/mysqldump -u root --host db -p\"hunter 2\" app",
        "/usr/bin/mysqldump -u root --host db -p\"<redacted>\" app",
    ),
    (
        "sshpass -p hunter2 ssh host",
        "sshpass -p <redacted> ssh host",
    ),
    (
        "sshpass -phunter2 ssh host",
        "sshpass -p<redacted> ssh host",
    ),
    ("user guide", "user guide"),
    ("mysql -u root", "mysql -u root"),
    ("mysql -u root -p app", "mysql -u root -p app"),
    ("curl --user-agent curl", "curl --user-agent curl"),
    ("curl -u admin", "curl -u admin"),
    ("mkdir -p build/out", "mkdir -p build/out"),
    ("mysql -u root; ls -pX", "mysql -u root; ls -pX"),
    ("see the user:guide", "see the user:guide"),
    // Authorization headers.
    (
        "Authorization: Bearer abc.def.ghi",
        "Authorization: Bearer <redacted>",
    ),
    (
        "authorization: basic dXNlcjpwYXNz",
        "authorization: basic <redacted>",
    ),
    (
        r#""Authorization": "Token abcdef""#,
        r#""Authorization": "Token <redacted>""#,
    ),
    (
        "sent bearer 0123abcdXYZ to server",
        "sent bearer <redacted> to server",
    ),
    ("bearer token expired", "bearer token expired"),
    // Well-known key shapes.
    ("key sk-proj-Abc123Def456Ghi789Jkl012", "key <redacted>"),
    (
        "sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345",
        "<redacted>",
    ),
    (
        "task-abcdefghijklmnopqrstuvwxyz",
        "task-abcdefghijklmnopqrstuvwxyz",
    ),
    (
        "use ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "use <redacted>",
    ),
    ("gho_16C7e42F292c6912E7710c838347Ae178B4a", "<redacted>"),
    (
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnop",
        "<redacted>",
    ),
    ("slack xoxb-1234567890-abcdefghij", "slack <redacted>"),
    ("aws AKIAIOSFODNN7EXAMPLE here", "aws <redacted> here"),
    ("AIzaSyA1234567890abcdefghijklmnopqrstuv", "<redacted>"),
    (JWT, "<redacted>"),
    ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "<redacted>"),
    // Long random runs.
    ("sha 0123456789abcdef0123456789abcdef", "sha <redacted>"),
    (
        "commit da39a3ee5e6b4b0d3255bfef95601890afd80709",
        "commit <redacted>",
    ),
    (
        "aws_secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "aws_secret <redacted>",
    ),
    (
        "blob QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVoxMjM0NTY3ODk=",
        "blob <redacted>",
    ),
    (
        "/var/cache/pip/0123456789abcdef0123456789abcdef/wheel",
        "/var/cache/pip/<redacted>/wheel",
    ),
    (
        "/tmp/cache-0123456789abcdef0123456789abcdef01/x",
        "/tmp/cache-<redacted>/x",
    ),
    // Random pieces around a secret piece: all of it goes.
    ("AbC9xYz1/0123456789abcdef0123456789abcdef", "<redacted>"),
    (
        "a-b-c-d-e-f-AbCdEf123456789GhIjKlMnOpQrStUvWx12",
        "a-b-c-d-e-f-<redacted>",
    ),
    // Several rules together, and ordering.
    (
        "user bob (bob@corp.com) at /home/bob/src failed: token=abc",
        "user <user> (<email>) at ~/src failed: token=<redacted>",
    ),
    ("password=/home/bob/secret.txt", "password=<redacted>"),
];

#[test]
fn scrub_table() {
    assert!(TABLE.len() >= 40, "a table of at least 40 cases");
    let scrubber = bob();
    let mut failures = Vec::new();
    for (input, expected) in TABLE {
        let got = scrubber.scrub(input);
        if got != *expected {
            failures.push(format!("{input:?}\n   got {got:?}\n  want {expected:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn unchanged_input_is_borrowed() {
    let scrubber = bob();
    for input in [
        "",
        "read_file",
        "550e8400-e29b-41d4-a716-446655440000",
        "bobcat",
        "1.2.3",
        "a b",
    ] {
        assert!(
            matches!(scrubber.scrub(input), Cow::Borrowed(s) if s == input),
            "{input}"
        );
    }
}

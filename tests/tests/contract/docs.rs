//! The README is a front page a newcomer reads in minutes; the depth is in docs/, and every
//! link between them (and into the code) leads somewhere.

use super::contract::read;

/// Every `](target)` of a Markdown text that is not a web address: the file part.
fn relative_links(text: &str) -> Vec<String> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .filter(|link| !link.starts_with("http://") && !link.starts_with("https://"))
        .map(|link| link.split('#').next().unwrap_or_default().to_owned())
        .filter(|file| !file.is_empty())
        .collect()
}

#[test]
fn the_readme_is_a_front_page_and_every_link_resolves() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = read("README.md");
    assert!(
        readme.lines().count() < 350,
        "README.md has {} lines",
        readme.lines().count()
    );
    let mut pages = vec![("README.md".to_owned(), readme)];
    for entry in std::fs::read_dir(root.join("docs")).expect("docs/") {
        let name = format!(
            "docs/{}",
            entry.expect("entry").file_name().to_string_lossy()
        );
        if name.ends_with(".md") {
            pages.push((name.clone(), read(&name)));
        }
    }
    assert!(pages.len() >= 7, "the README and six pages in docs/");
    for (page, text) in &pages {
        let dir = root.join(page).parent().expect("a folder").to_path_buf();
        for link in relative_links(text) {
            assert!(
                dir.join(&link).exists(),
                "{page} links to {link}, which is not there"
            );
        }
    }
    for page in [
        "deploying",
        "runbook",
        "api-walkthrough",
        "testing",
        "performance",
    ] {
        assert!(
            pages[0].1.contains(&format!("(docs/{page}.md)")),
            "the README links docs/{page}.md"
        );
    }
}

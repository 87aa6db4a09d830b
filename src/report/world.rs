//! In-process typst: one [`Engine`] (library, font book, parsed fonts,
//! templates) serves the whole batch; each document gets a small
//! [`DocWorld`] holding its data and charts as virtual files.

use crate::error::{Error, Result};
use std::collections::HashMap;
use std::path::Path;
use typst::diag::{FileError, FileResult};
use typst::foundations::{Bytes, Datetime, Duration, Smart};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World, WorldExt};
use typst_layout::PagedDocument;

/// Templates compiled into the binary, by file name.
pub const BUILTIN_TEMPLATES: [(&str, &str); 5] = [
    ("common.typ", include_str!("../../report-templates/common.typ")),
    ("clinic.typ", include_str!("../../report-templates/clinic.typ")),
    ("study.typ", include_str!("../../report-templates/study.typ")),
    ("worklist.typ", include_str!("../../report-templates/worklist.typ")),
    ("facilitator.typ", include_str!("../../report-templates/facilitator.typ")),
];

/// The id of a fixed virtual path (ids are interned globally and reused).
pub fn file_id(path: &str) -> FileId {
    RootedPath::new(VirtualRoot::Project, VirtualPath::new(path).expect("valid virtual path")).intern()
}

/// Every template from a folder: (name, text, path shown in errors).
pub fn read_templates(dir: &Path) -> Result<Vec<(String, String, String)>> {
    let mut t = Vec::new();
    for (n, _) in BUILTIN_TEMPLATES {
        let p = dir.join(n);
        let text = std::fs::read_to_string(&p).map_err(|e| Error::io("cannot read template", &p, e))?;
        t.push((n.to_string(), text, p.display().to_string()));
    }
    Ok(t)
}

/// Shared typst state for a batch: fonts are parsed once.
pub struct Engine {
    library: LazyHash<Library>,
    book: LazyHash<FontBook>,
    fonts: Vec<Font>,
    /// Template sources by virtual id, with the path shown in errors.
    templates: HashMap<FileId, (Source, String)>,
    /// Documents compiled since the last eviction.
    since_evict: std::sync::atomic::AtomicUsize,
}

/// Evict typst's memo cache after this many documents (about 3.5 MB each).
const EVICT_EVERY: usize = 8;

/// An eviction keeps the memoized results used since the last one or
/// created since (age 1 after it): a compile running on another thread
/// keeps its work, and what every document shares (parsed templates,
/// fonts, the library) stays cached; what only finished documents used
/// goes at the next eviction.
const EVICT_AGE: usize = 1;

impl Engine {
    /// An engine with the built-in templates.
    pub fn new() -> Engine {
        let t = BUILTIN_TEMPLATES
            .iter()
            .map(|(n, s)| (n.to_string(), s.to_string(), format!("report-templates/{n}")))
            .collect();
        Engine::with_templates(t)
    }

    /// An engine reading its templates from a folder (for template work and tests).
    pub fn from_dir(dir: &Path) -> Result<Engine> {
        Ok(Engine::with_templates(read_templates(dir)?))
    }

    fn with_templates(t: Vec<(String, String, String)>) -> Engine {
        let mut fonts = Vec::new();
        for data in typst_assets::fonts() {
            fonts.extend(Font::iter(Bytes::new(data)));
        }
        for data in [
            super::charts::SANS_REGULAR,
            super::charts::SANS_BOLD,
            super::charts::SANS_SEMIBOLD,
            super::charts::SANS_ITALIC,
        ] {
            fonts.extend(Font::iter(Bytes::new(data)));
        }
        let book = FontBook::from_fonts(&fonts);
        let templates = t
            .into_iter()
            .map(|(name, text, shown)| {
                let id = file_id(&format!("/{name}"));
                (id, (Source::new(id, text), shown))
            })
            .collect();
        Engine {
            library: LazyHash::new(Library::builder().build()),
            book: LazyHash::new(book),
            fonts,
            templates,
            since_evict: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Compile template `main` (e.g. `clinic.typ`) with the given virtual
    /// files into PDF bytes. `ident` and `date` make the output reproducible.
    pub fn compile_pdf(
        &self,
        main: &str,
        files: Vec<(String, Vec<u8>)>,
        ident: &str,
        date: (i32, u8, u8),
    ) -> Result<Vec<u8>> {
        let world = DocWorld {
            engine: self,
            main: file_id(&format!("/{main}")),
            files: files.into_iter().map(|(p, b)| (file_id(&p), Bytes::new(b))).collect(),
            today: Datetime::from_ymd(date.0, date.1, date.2).expect("valid date"),
        };
        let result = self.compile_in(&world, ident, date);
        // typst's memo cache is global and grows with every document, failed
        // ones too: every few documents one thread drops what has not been
        // used since the last eviction, without waiting for the others.
        use std::sync::atomic::Ordering;
        let n = self.since_evict.fetch_add(1, Ordering::AcqRel) + 1;
        if n >= EVICT_EVERY && self.since_evict.compare_exchange(n, 0, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            typst::comemo::evict(EVICT_AGE);
        }
        result
    }

    fn compile_in(&self, world: &DocWorld, ident: &str, date: (i32, u8, u8)) -> Result<Vec<u8>> {
        let warned = typst::compile::<PagedDocument>(world);
        let doc = warned.output.map_err(|diags| self.diagnostic(world, &diags))?;
        let ts = Datetime::from_ymd_hms(date.0, date.1, date.2, 12, 0, 0).expect("valid date");
        let opts = typst_pdf::PdfOptions {
            ident: Smart::Custom(ident.to_string()),
            timestamp: Some(typst_pdf::Timestamp::new_utc(ts)),
            ..Default::default()
        };
        typst_pdf::pdf(&doc, &opts).map_err(|diags| self.diagnostic(world, &diags))
    }

    /// The first error as a template error with file, line and column.
    fn diagnostic(&self, world: &DocWorld, diags: &[typst::diag::SourceDiagnostic]) -> Error {
        let Some(d) = diags.iter().find(|d| d.severity == typst::diag::Severity::Error).or(diags.first()) else {
            return Error::Report { what: "typst".into(), message: "compilation failed without a diagnostic".into() };
        };
        let mut file = "<typst>".to_string();
        let (mut line, mut column) = (0, 0);
        if let Some(id) = d.span.id() {
            file = match self.templates.get(&id) {
                Some((_, shown)) => shown.clone(),
                None => format!("{:?}", id.get().vpath()),
            };
            if let (Some(range), Ok(src)) = (world.range(d.span), world.source(id)) {
                if let Some((l, c)) = src.lines().byte_to_line_column(range.start) {
                    line = l + 1;
                    column = c + 1;
                }
            }
        }
        let hints: Vec<String> = d.hints.iter().map(|h| h.v.to_string()).collect();
        let mut message = d.message.to_string();
        if !hints.is_empty() {
            message.push_str(&format!(" (hint: {})", hints.join("; ")));
        }
        Error::Template { file, line, column, message }
    }
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new()
    }
}

/// One document's world.
struct DocWorld<'a> {
    engine: &'a Engine,
    main: FileId,
    files: HashMap<FileId, Bytes>,
    today: Datetime,
}

impl World for DocWorld<'_> {
    fn library(&self) -> &LazyHash<Library> {
        &self.engine.library
    }
    fn book(&self) -> &LazyHash<FontBook> {
        &self.engine.book
    }
    fn main(&self) -> FileId {
        self.main
    }
    fn source(&self, id: FileId) -> FileResult<Source> {
        match self.engine.templates.get(&id) {
            Some((s, _)) => Ok(s.clone()),
            None => Err(FileError::NotFound(id.get().vpath().get_without_slash().into())),
        }
    }
    fn file(&self, id: FileId) -> FileResult<Bytes> {
        match self.files.get(&id) {
            Some(b) => Ok(b.clone()),
            None => Err(FileError::NotFound(id.get().vpath().get_without_slash().into())),
        }
    }
    fn font(&self, index: usize) -> Option<Font> {
        self.engine.fonts.get(index).cloned()
    }
    fn today(&self, _offset: Option<Duration>) -> Option<Datetime> {
        Some(self.today)
    }
}

//! Events → a representation tree (PyYAML's "nodes"): tags and styles kept, aliases shared.

use std::collections::HashMap;
use std::rc::Rc;

use granit_parser::{Event, Parser, ScalarStyle, ScanError, Span};

/// A tag as written, already classified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RawTag {
    /// `tag:yaml.org,2002:SUFFIX` (`!!str`, `!!int`...).
    Core(String),
    /// `!` alone (the non-specific tag).
    NonSpecific,
    /// A local or other tag, kept as written (`!unsafe`, `!vault`, `!foo`).
    Other(String),
}

#[derive(Debug)]
pub(crate) enum RawKind {
    Scalar { text: String, plain: bool },
    Seq(Vec<Rc<RawNode>>),
    Map(Vec<(Rc<RawNode>, Rc<RawNode>)>),
}

/// One node of the representation tree. `id` is unique per node in the source, so an alias
/// shares the id of its anchor (PyYAML compares such nodes by identity).
#[derive(Debug)]
pub(crate) struct RawNode {
    pub id: usize,
    pub kind: RawKind,
    pub tag: Option<RawTag>,
    /// 1-based line, 1-based column.
    pub line: u32,
    pub col: u32,
}

/// A parse error with its 1-based position.
pub(crate) struct ComposeError {
    pub line: u32,
    pub col: u32,
    pub message: String,
}

impl From<ScanError> for ComposeError {
    fn from(e: ScanError) -> Self {
        let m = e.marker();
        ComposeError {
            line: clamp(m.line().max(1)),
            col: clamp(m.col() + 1),
            message: e.info(),
        }
    }
}

fn clamp(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn tag_of(tag: Option<&granit_parser::Tag>) -> Option<RawTag> {
    let tag = tag?;
    let (handle, suffix) = tag.parts();
    if handle == "tag:yaml.org,2002:" {
        return Some(RawTag::Core(suffix.to_string()));
    }
    if (handle.is_empty() && suffix == "!") || (handle == "!" && suffix.is_empty()) {
        return Some(RawTag::NonSpecific);
    }
    Some(RawTag::Other(format!("{handle}{suffix}")))
}

struct Composer<'a> {
    parser: Parser<'a, granit_parser::StrInput<'a>>,
    anchors: HashMap<usize, Rc<RawNode>>,
    /// Anchor names defined in the current document (PyYAML refuses a name defined twice).
    anchor_names: std::collections::HashSet<String>,
    next_id: usize,
}

/// Parses all documents of `text` into representation trees (one per document).
pub(crate) fn compose_all(text: &str) -> Result<Vec<Rc<RawNode>>, ComposeError> {
    let options = granit_parser::options! {
        emit_comments: false,
        emit_anchor_events: true,
        block_scalar_eof_without_line_feed: true,
    };
    let mut c = Composer {
        parser: Parser::new_from_str_with_options(text, options),
        anchors: HashMap::new(),
        anchor_names: std::collections::HashSet::new(),
        next_id: 1,
    };
    let mut docs = Vec::new();
    loop {
        let Some((event, span)) = c.next()? else {
            return Ok(docs);
        };
        match event {
            Event::StreamStart | Event::DocumentEnd => {}
            Event::StreamEnd => return Ok(docs),
            Event::DocumentStart(..) => {
                c.anchors.clear();
                c.anchor_names.clear();
                let Some((event, span)) = c.next()? else {
                    return Ok(docs);
                };
                let node = c.node(event, span)?;
                docs.push(node);
            }
            other => {
                return Err(ComposeError {
                    line: clamp(span.start.line().max(1)),
                    col: clamp(span.start.col() + 1),
                    message: format!("unexpected event {other:?}"),
                });
            }
        }
    }
}

impl<'a> Composer<'a> {
    fn next(&mut self) -> Result<Option<(Event<'a>, Span)>, ComposeError> {
        loop {
            match self.parser.next_event() {
                None => return Ok(None),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok((Event::Comment(..), _))) => {}
                Some(Ok((Event::Anchor(_, name), span))) => {
                    if !self.anchor_names.insert(name.to_string()) {
                        return Err(ComposeError {
                            line: clamp(span.start.line().max(1)),
                            col: clamp(span.start.col() + 1),
                            message: format!("found duplicate anchor '{name}'"),
                        });
                    }
                }
                Some(Ok(pair)) => return Ok(Some(pair)),
            }
        }
    }

    fn fresh_id(&mut self) -> usize {
        self.next_id += 1;
        self.next_id
    }

    fn node(&mut self, event: Event<'a>, span: Span) -> Result<Rc<RawNode>, ComposeError> {
        let line = clamp(span.start.line().max(1));
        let col = clamp(span.start.col() + 1);
        let err = |message: String| ComposeError { line, col, message };
        let (node, anchor) = match event {
            Event::Alias(id) => {
                return self
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| err("found undefined alias".into()));
            }
            Event::Scalar(text, style, anchor, tag) => {
                let node = RawNode {
                    id: self.fresh_id(),
                    kind: RawKind::Scalar {
                        text: text.into_owned(),
                        plain: style == ScalarStyle::Plain,
                    },
                    tag: tag_of(tag.as_deref()),
                    line,
                    col,
                };
                (node, anchor)
            }
            Event::SequenceStart(_, anchor, tag) => {
                let mut items = Vec::new();
                loop {
                    let Some((ev, sp)) = self.next()? else {
                        return Err(err("unexpected end of stream in a sequence".into()));
                    };
                    if matches!(ev, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(ev, sp)?);
                }
                let node = RawNode {
                    id: self.fresh_id(),
                    kind: RawKind::Seq(items),
                    tag: tag_of(tag.as_deref()),
                    line,
                    col,
                };
                (node, anchor)
            }
            Event::MappingStart(_, anchor, tag) => {
                let mut pairs = Vec::new();
                loop {
                    let Some((ev, sp)) = self.next()? else {
                        return Err(err("unexpected end of stream in a mapping".into()));
                    };
                    if matches!(ev, Event::MappingEnd) {
                        break;
                    }
                    let key = self.node(ev, sp)?;
                    let Some((ev, sp)) = self.next()? else {
                        return Err(err("unexpected end of stream in a mapping".into()));
                    };
                    let value = self.node(ev, sp)?;
                    pairs.push((key, value));
                }
                let node = RawNode {
                    id: self.fresh_id(),
                    kind: RawKind::Map(pairs),
                    tag: tag_of(tag.as_deref()),
                    line,
                    col,
                };
                (node, anchor)
            }
            other => return Err(err(format!("unexpected event {other:?}"))),
        };
        let node = Rc::new(node);
        if anchor != 0 {
            self.anchors.insert(anchor, Rc::clone(&node));
        }
        Ok(node)
    }
}

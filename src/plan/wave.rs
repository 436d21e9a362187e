//! Wave files (SPEC §3b).

use super::yaml::{Fields, Reader, is_null, pos};
use super::{Gate, GateLimits, Problem, Selector, Wave};
use crate::domain::Reason;
use crate::domain::{Decimal, Segment};
use marked_yaml::Span;

struct Located {
    wave: Wave,
    id_at: (usize, usize),
    select_span: Span,
}

pub(super) fn parse_all(files: &[super::SourceFile], problems: &mut Vec<Problem>) -> Vec<Wave> {
    let mut located: Vec<Located> = Vec::new();
    for f in files {
        let mut r = Reader { file: &f.name, problems };
        if let Some(w) = parse_one(&mut r, &f.text) {
            located.push(w);
        }
    }
    // Across files: duplicate ids and accounts two waves would both select.
    for (i, b) in located.iter().enumerate() {
        for a in &located[..i] {
            if a.wave.id == b.wave.id {
                problems.push(Problem::error(
                    &b.wave.file,
                    b.id_at.0,
                    b.id_at.1,
                    format!("duplicate wave id `{}` (also in {}:{})", b.wave.id, a.wave.file, a.id_at.0),
                ));
            } else if let Some(overlap) = overlap(&a.wave.select, &b.wave.select) {
                let (line, col) = pos(&b.select_span);
                problems.push(Problem::error(
                    &b.wave.file,
                    line,
                    col,
                    format!(
                        "wave `{}` selects accounts that wave `{}` ({}:{}) also selects: {overlap}; \
                         an account belongs to at most one wave",
                        b.wave.id,
                        a.wave.id,
                        a.wave.file,
                        pos(&a.select_span).0
                    ),
                ));
            }
        }
    }
    located.into_iter().map(|l| l.wave).collect()
}

/// Describes the accounts both selectors match, or `None` when they cannot share one.
fn overlap(a: &Selector, b: &Selector) -> Option<String> {
    let segments: Vec<_> = Segment::ALL
        .into_iter()
        .filter(|s| (a.segment.is_empty() || a.segment.contains(s)) && (b.segment.is_empty() || b.segment.contains(s)))
        .collect();
    if segments.is_empty() {
        return None;
    }
    let sites = match (a.site.is_empty(), b.site.is_empty()) {
        (true, true) => "any site".to_string(),
        (true, false) => format!("site {}", b.site.join(", ")),
        (false, true) => format!("site {}", a.site.join(", ")),
        (false, false) => {
            let common: Vec<_> = a.site.iter().filter(|s| b.site.contains(s)).cloned().collect();
            if common.is_empty() {
                return None;
            }
            format!("site {}", common.join(", "))
        }
    };
    let segs: Vec<_> = segments.iter().map(|s| s.as_str()).collect();
    Some(format!("segment {} at {sites}", segs.join(", ")))
}

// Long: a flat list of one wave file's fields, each read with its position (every problem at once).
fn parse_one(r: &mut Reader, text: &str) -> Option<Located> {
    let root = r.parse(text)?;
    let map = r.mapping(&root, "a wave file")?;
    let mut f = Fields::new(map, "the wave");
    let id_node = f.req(r, "id");
    let id = id_node.and_then(|n| r.string(n, "`id`"));
    if let (Some(id), Some(n)) = (&id, id_node)
        && !id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        r.error(n.span(), format!("wave id `{id}` must use only a-z, 0-9 and -"));
    }
    let name = f.req(r, "name").and_then(|n| r.string(n, "`name`"));
    let select_node = f.req(r, "select");
    let select = select_node.and_then(|n| selector(r, n));
    let start = match f.opt("start") {
        None => {
            r.warning(&f.span(), "the wave has no `start`: it is not scheduled and cannot run");
            Some(None)
        }
        Some(n) if is_null(n) => {
            r.warning(n.span(), "`start` is null: the wave is not scheduled yet and cannot run");
            Some(None)
        }
        Some(n) => r.date(n, "`start`").map(Some),
    };
    let duration_days = f.req(r, "duration_days").and_then(|n| {
        let d: i64 = r.parsed(n, "`duration_days`", "a whole number of days")?;
        if d <= 0 {
            r.error(n.span(), format!("`duration_days` must be positive (got {d}): the window would be empty"));
            return None;
        }
        if d > 3650 {
            r.error(n.span(), format!("`duration_days` is at most 3650 (ten years; got {d})"));
            return None;
        }
        u32::try_from(d).ok()
    });
    let tolerance = match f.opt("tolerance") {
        None => Some(Decimal::new(1, 2)),
        Some(n) => r.decimal(n, "`tolerance`", 9).and_then(|t| {
            if t.is_sign_negative() {
                r.error(n.span(), "`tolerance` must not be negative");
                None
            } else {
                Some(t)
            }
        }),
    };
    let tolerance_pct = match f.opt("tolerance_pct") {
        None => Some(None),
        Some(n) => r.decimal(n, "`tolerance_pct`", 9).and_then(|t| {
            if t.is_sign_negative() || t > Decimal::ONE_HUNDRED {
                r.error(n.span(), "`tolerance_pct` is a percentage between 0 and 100 (e.g. \"0.5\")");
                None
            } else {
                Some(Some(t))
            }
        }),
    };
    let account_tolerance = match f.opt("account_tolerance") {
        None => Some(None),
        Some(n) => money_limit(r, n, "`account_tolerance`").map(Some),
    };
    let accept = match f.opt("accept") {
        None => Some(vec![]),
        Some(n) => {
            let mut ok = true;
            let items = r.strings(n, "`accept`");
            for (s, span) in &items {
                match s.parse::<Reason>() {
                    Err(_) => {
                        ok = false;
                        r.error(
                            span,
                            format!("`accept`: unknown difference reason `{s}` (known: {})", Reason::names()),
                        );
                    }
                    Ok(Reason::Unexplained) => {
                        ok = false;
                        r.error(span, "`accept`: `unexplained` cannot be accepted: a difference nothing explains is never passed as expected");
                    }
                    Ok(_) => {}
                }
            }
            ok.then(|| items.into_iter().map(|(s, _)| s).collect())
        }
    };
    let gate = match f.opt("gate") {
        None => Some(Gate::default()),
        Some(n) => gate(r, n),
    };
    let parallel_run_periods = match f.opt("parallel_run_periods") {
        None => Some(3),
        Some(n) => r.parsed::<u32>(n, "`parallel_run_periods`", "a whole number").and_then(|p| {
            if (1..=24).contains(&p) {
                Some(p)
            } else {
                r.error(n.span(), "`parallel_run_periods` must be between 1 and 24");
                None
            }
        }),
    };
    let notices = match f.opt("notices") {
        None => Some(super::NoticeLimits::default()),
        Some(n) => notice_limits(r, n),
    };
    let usage_carryover = match f.opt("usage_carryover") {
        None => Some(super::UsageCarryover::New),
        Some(n) => match r.string(n, "`usage_carryover`").as_deref() {
            Some("new") => Some(super::UsageCarryover::New),
            Some("legacy") => Some(super::UsageCarryover::Legacy),
            Some(other) => {
                r.error(
                    n.span(),
                    format!("`usage_carryover` is `new` (the first new bill carries the last legacy period's usage) or `legacy` (the legacy system bills it), not `{other}`"),
                );
                None
            }
            None => None,
        },
    };
    let extraction_max_age_days = match f.opt("extraction_max_age_days") {
        None => Some(None),
        Some(n) => r.parsed::<u32>(n, "`extraction_max_age_days`", "a whole number of days").and_then(|d| {
            if (1..=366).contains(&d) {
                Some(Some(d))
            } else {
                r.error(n.span(), "`extraction_max_age_days` must be between 1 and 366");
                None
            }
        }),
    };
    f.finish(r);
    let id_at = id_node.map_or((1, 1), |n| pos(n.span()));
    Some(Located {
        wave: Wave {
            id: id?,
            name: name?,
            select: select?,
            start: start?,
            duration_days: duration_days?,
            tolerance: tolerance?,
            tolerance_pct: tolerance_pct?,
            account_tolerance: account_tolerance?,
            accept: accept?,
            gate: gate?,
            parallel_run_periods: parallel_run_periods?,
            notices: notices?,
            usage_carryover: usage_carryover?,
            extraction_max_age_days: extraction_max_age_days?,
            file: r.file.to_string(),
        },
        id_at,
        select_span: *select_node?.span(),
    })
}

fn selector(r: &mut Reader, node: &marked_yaml::Node) -> Option<Selector> {
    let map = r.mapping(node, "`select`")?;
    let mut f = Fields::new(map, "`select`");
    let mut ok = true;
    let segment = match f.opt("segment") {
        None => vec![],
        Some(n) => r
            .strings(n, "`select.segment`")
            .into_iter()
            .filter_map(|(s, span)| match s.parse::<Segment>() {
                Ok(seg) => Some(seg),
                Err(e) => {
                    ok = false;
                    r.error(&span, e);
                    None
                }
            })
            .collect(),
    };
    let site = match f.opt("site") {
        None => vec![],
        Some(n) => r.strings(n, "`select.site`").into_iter().map(|(s, _)| s).collect(),
    };
    f.finish(r);
    if segment.is_empty() && site.is_empty() && ok {
        r.error(node.span(), "`select` must name at least one segment or site");
        return None;
    }
    ok.then_some(Selector { segment, site })
}

fn gate(r: &mut Reader, node: &marked_yaml::Node) -> Option<Gate> {
    let map = r.mapping(node, "`gate`")?;
    let mut f = Fields::new(map, "`gate`");
    let mut gate = Gate::default();
    let mut ok = true;
    if let Some(n) = f.opt("min_pass_rate") {
        match rate(r, n, "`gate.min_pass_rate`") {
            Some(v) => gate.min_pass_rate = v,
            None => ok = false,
        }
    }
    let limits = limits_of(r, &mut f, "gate");
    if let Some(n) = f.opt("abort") {
        match r.mapping(n, "`gate.abort`") {
            Some(m) => {
                let mut af = Fields::new(m, "`gate.abort`");
                let min = af.opt("min_pass_rate").map(|n| rate(r, n, "`gate.abort.min_pass_rate`"));
                let abort = limits_of(r, &mut af, "gate.abort");
                af.finish(r);
                match (min, abort) {
                    (Some(None), _) | (_, None) => ok = false,
                    (min, Some((var, unexplained))) => {
                        gate.abort = GateLimits {
                            min_pass_rate: min.flatten(),
                            max_absolute_variance: var,
                            max_unexplained: unexplained,
                        };
                        if let Some(a) = gate.abort.min_pass_rate
                            && a > gate.min_pass_rate
                        {
                            ok = false;
                            r.error(
                                n.span(),
                                format!(
                                    "`gate.abort.min_pass_rate` ({a}) is above `gate.min_pass_rate` ({}): the wave would abort before it pauses",
                                    gate.min_pass_rate
                                ),
                            );
                        }
                    }
                }
            }
            None => ok = false,
        }
    }
    match limits {
        Some((var, unexplained)) => {
            gate.max_absolute_variance = var;
            gate.max_unexplained = unexplained;
        }
        None => ok = false,
    }
    f.finish(r);
    ok.then_some(gate)
}

/// `max_absolute_variance` and `max_unexplained` of a gate section.
fn limits_of(r: &mut Reader, f: &mut Fields, prefix: &str) -> Option<(Option<Decimal>, Option<u64>)> {
    let var = match f.opt("max_absolute_variance") {
        None => Some(None),
        Some(n) => money_limit(r, n, &format!("`{prefix}.max_absolute_variance`")).map(Some),
    };
    let unexplained = match f.opt("max_unexplained") {
        None => Some(None),
        Some(n) => r.parsed::<u64>(n, &format!("`{prefix}.max_unexplained`"), "a whole number (0 or more)").map(Some),
    };
    Some((var?, unexplained?))
}

fn rate(r: &mut Reader, n: &marked_yaml::Node, what: &str) -> Option<Decimal> {
    let v = r.decimal(n, what, 9)?;
    if v < Decimal::ZERO || v > Decimal::ONE {
        r.error(n.span(), format!("{what} is a fraction between 0 and 1 (e.g. \"0.95\")"));
        return None;
    }
    Some(v)
}

/// A non-negative amount of money.
fn money_limit(r: &mut Reader, n: &marked_yaml::Node, what: &str) -> Option<Decimal> {
    let v = r.decimal(n, what, 9)?;
    if v.is_sign_negative() {
        r.error(n.span(), format!("{what} must not be negative"));
        return None;
    }
    Some(v)
}

fn notice_limits(r: &mut Reader, node: &marked_yaml::Node) -> Option<super::NoticeLimits> {
    let map = r.mapping(node, "`notices`")?;
    let mut f = Fields::new(map, "`notices`");
    let mut limit = |r: &mut Reader, key: &'static str| -> Option<Option<u32>> {
        let Some(n) = f.opt(key) else { return Some(None) };
        match r.parsed::<u32>(n, &format!("`notices.{key}`"), "a whole number") {
            Some(0) => {
                r.error(n.span(), format!("`notices.{key}` must be at least 1 (leave it out for no limit)"));
                None
            }
            Some(v) => Some(Some(v)),
            None => None,
        }
    };
    let per_day = limit(r, "per_day");
    let per_hour = limit(r, "per_hour");
    f.finish(r);
    Some(super::NoticeLimits { per_day: per_day?, per_hour: per_hour? })
}

//! `mipsock show`: the dump as a table or JSON lines.

use std::io::Write;

use mobsock::{DumpResult, DumpWhat};
use serde_json::json;

fn mnps(mnp6: &[ipnet::Ipv6Net], mnp4: &[ipnet::Ipv4Net]) -> String {
    let all: Vec<String> = mnp6
        .iter()
        .map(|p| p.to_string())
        .chain(mnp4.iter().map(|p| p.to_string()))
        .collect();
    if all.is_empty() {
        "-".into()
    } else {
        all.join(",")
    }
}

/// Prints rows under a header, columns padded to their widest cell.
fn print_rows(out: &mut impl Write, header: &[&str], rows: &[Vec<String>]) -> std::io::Result<()> {
    let header: Vec<String> = header.iter().map(|s| s.to_string()).collect();
    let mut widths: Vec<usize> = header.iter().map(String::len).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    for row in std::iter::once(&header).chain(rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        writeln!(out, "{}", cells.join("  ").trim_end())?;
    }
    Ok(())
}

/// `mipsock show ha`: every owner's Home Agents List in preference order, one row (or JSON
/// object) per home agent.
pub fn print_ha(
    lists: &std::collections::BTreeMap<mobsock::Sender, mobsock::HaList>,
    as_json: bool,
) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    let mut rows = Vec::new();
    for (owner, list) in lists {
        for (rank, e) in list.entries.iter().enumerate() {
            if as_json {
                let mut v = serde_json::to_value(e).unwrap_or_default();
                v["owner"] = json!({"name": owner.name, "pid": owner.pid});
                v["ifname"] = json!(list.ifname);
                v["rank"] = json!(rank + 1);
                writeln!(out, "{v}")?;
                continue;
            }
            rows.push(vec![
                (rank + 1).to_string(),
                e.address.to_string(),
                e.preference.map_or("-".into(), |p| p.to_string()),
                e.lifetime
                    .map_or(if e.own { "forever".into() } else { "-".into() }, |l| {
                        format!("{l}s")
                    }),
                if e.mobile_router { "R" } else { "-" }.to_string(),
                if e.own { "self/in use" } else { "" }.to_string(),
                list.ifname.clone(),
                owner.to_string(),
            ]);
        }
    }
    if !as_json {
        print_rows(
            &mut out,
            &[
                "RANK", "HA", "PREF", "LIFETIME", "FLAGS", "NOTE", "IF", "OWNER",
            ],
            &rows,
        )?;
    }
    out.flush()
}

/// Prints the entries every owner sent, one row (or JSON object) each.
pub fn print(result: &DumpResult, what: DumpWhat, as_json: bool) -> std::io::Result<()> {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut out = std::io::stdout().lock();
    for (owner, replies) in &result.replies {
        for reply in replies {
            if what.includes(DumpWhat::Bc) {
                for e in &reply.bc {
                    if as_json {
                        let mut v = serde_json::to_value(e).unwrap_or_default();
                        v["owner"] = json!({"name": owner.name, "pid": owner.pid});
                        writeln!(out, "{v}")?;
                        continue;
                    }
                    rows.push(vec![
                        e.hoa.to_string(),
                        e.coa.to_string(),
                        e.ha.map_or("-".into(), |a| a.to_string()),
                        format!("{}s", e.lifetime),
                        mnps(&e.mnp6, &e.mnp4),
                        format!("{:#06x}", e.flags),
                        owner.to_string(),
                    ]);
                }
            }
            if what.includes(DumpWhat::Bul) {
                for e in &reply.bul {
                    if as_json {
                        let mut v = serde_json::to_value(e).unwrap_or_default();
                        v["owner"] = json!({"name": owner.name, "pid": owner.pid});
                        writeln!(out, "{v}")?;
                        continue;
                    }
                    rows.push(vec![
                        e.hoa.to_string(),
                        e.coa.to_string(),
                        e.ha.to_string(),
                        format!("{}s", e.lifetime),
                        mnps(&e.mnp6, &e.mnp4),
                        format!("{:#06x}", e.flags),
                        owner.to_string(),
                    ]);
                }
            }
        }
    }
    if as_json {
        return out.flush();
    }
    let header: Vec<String> = ["HOA", "COA", "HA", "LIFETIME", "MNP", "FLAGS", "OWNER"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(String::len).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        writeln!(out, "{}", cells.join("  ").trim_end())?;
    }
    if !result.complete() {
        writeln!(
            out,
            "(incomplete: an owner did not finish its dump in time)"
        )?;
    }
    out.flush()
}

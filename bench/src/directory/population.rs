//! The directory `ward-bench directory` measures, made through Ward's own write path: the tenant
//! by `ward init`, then users, groups and member links committed to the store from this process
//! in batches, each object with its index rows and change-feed row as any write has them.

use crate::membership::{Nesting, SplitMix, nesting, security_enabled};
use crate::tokens::{fail, thousands, ward_cli};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;
use time::OffsetDateTime;
use ward_core::group::{Group, NewGroup, UNIFIED};
use ward_core::ids::{ObjectKind, TenantId};
use ward_core::store::{Relation, Store, WriteOp};
use ward_core::user::{NewUser, User};
use ward_store::StoreLocation;

/// Objects a transaction while populating.
pub const BATCH: usize = 5_000;
const SEED: u64 = 0x5741_5244_0004;
/// What this run keeps in `--data-dir`, to measure the same directory again.
const STATE_FILE: &str = "bench-directory.json";

const DEPARTMENTS: [&str; 10] =
    ["Engineering", "Sales", "Marketing", "Finance", "Human Resources", "Operations", "Legal", "Support", "Research", "IT"];

/// 200 given names, so a two-letter prefix ('ma': 15 of them) matches 7.5 % of the users.
const FIRST_NAMES: &str = "\
Aaron Abigail Adam Adrian Aiden Alan Albert Alejandro Alex Alexander Alexandra Alice Alicia Amanda Amber Amelia Amy Ana \
Andrea Andrew Angela Anna Anthony Antonio Arthur Ashley Austin Barbara Benjamin Beth Betty Brandon Brenda Brian Brittany \
Bruce Bryan Carl Carlos Carol Caroline Catherine Charles Charlotte Chloe Christian Christina Christopher Cynthia Daniel \
David Deborah Dennis Diana Diego Donald Donna Dorothy Dylan Edward Elena Elijah Elizabeth Ella Emily Emma Eric Ethan \
Eugene Evelyn Frank Gabriel Gary George Gloria Grace Gregory Hannah Harold Harper Heather Helen Henry Isabella Ivan Jack \
Jacob James Janet Janice Jason Jean Jeffrey Jennifer Jeremy Jerry Jessica Joan Joe John Jonathan Jordan Jose Joseph \
Joshua Joyce Juan Judith Julia Julie Justin Karen Katherine Kathleen Keith Kelly Kenneth Kevin Kimberly Kyle Larry Laura \
Lauren Lawrence Leah Liam Linda Lisa Logan Lucas Lucy Luis Madison Manuel Marco Margaret Maria Marie Marilyn Mark Martha \
Martin Mary Mason Mateo Matthew Maya Megan Melissa Mia Michael Michelle Nancy Natalie Nathan Nicholas Nicole Noah Olivia \
Omar Oscar Pamela Patricia Patrick Paul Peter Rachel Ralph Raymond Rebecca Richard Robert Roger Ronald Rose Russell Ruth \
Ryan Samantha Samuel Sandra Sara Scott Sean Sharon Sofia Sophia Stephanie Stephen Steven Susan Teresa Thomas Timothy \
Tyler Victoria Vincent Walter William Zoe";

/// 500 surnames.
const SURNAMES: &str = "\
Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson Anderson \
Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young \
Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts \
Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers Gutierrez \
Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood James \
Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross Foster Jimenez Powell Jenkins \
Perry Russell Sullivan Bell Coleman Butler Henderson Barnes Gonzales Fisher Vasquez Simmons Romero Jordan Patterson \
Alexander Hamilton Graham Reynolds Griffin Wallace Moreno West Cole Hayes Bryant Herrera Gibson Ellis Tran Medina \
Aguilar Stevens Murray Ford Castro Marshall Owens Harrison Fernandez McDonald Woods Washington Kennedy Wells Vargas \
Henry Chen Freeman Webb Tucker Guzman Burns Crawford Olson Simpson Porter Hunter Gordon Mendez Silva Shaw Snyder Mason \
Dixon Munoz Hunt Hicks Holmes Palmer Wagner Black Robertson Boyd Rose Stone Salazar Fox Warren Mills Meyer Rice Schmidt \
Garza Daniels Ferguson Nichols Stephens Soto Weaver Ryan Gardner Payne Grant Dunn Kelley Spencer Hawkins Arnold Pierce \
Vazquez Hansen Peters Santos Hart Bradley Knight Elliott Cunningham Duncan Armstrong Hudson Carroll Lane Riley Andrews \
Alvarado Ray Delgado Berry Perkins Hoffman Johnston Matthews Pena Richards Contreras Willis Carpenter Lawrence Sandoval \
Guerrero George Chapman Rios Estrada Ortega Watkins Greene Nunez Wheeler Valdez Harper Burke Larson Santiago Maldonado \
Morrison Franklin Carlson Austin Dominguez Carr Lawson Jacobs Obrien Lynch Singh Vega Bishop Montgomery Oliver Jensen \
Harvey Williamson Gilbert Dean Sims Espinoza Howell Li Wong Reid Hanson Le McCoy Garrett Burton Fuller Wang Weber Welch \
Rojas Lucas Marquez Fields Park Yang Little Banks Padilla Day Walsh Bowman Schultz Luna Fowler Mejia Davidson Acosta \
Brewer May Holland Juarez Newman Pearson Curtis Cortez Douglas Schneider Joseph Barrett Navarro Figueroa Keller Avila \
Wade Molina Stanley Hopkins Campos Barnett Bates Chambers Caldwell Beck Lambert Miranda Byrd Craig Ayala Lowe Frazier \
Powers Neal Leonard Gregory Carrillo Sutton Fleming Rhodes Shelton Schwartz Norris Jennings Watts Duran Walters Cohen \
McDaniel Moran Parks Steele Vaughn Becker Holt Deleon Barker Terry Hale Leon Glover Benson Haynes Horton Miles Lyons \
Pham Graves Bush Thornton Wolfe Warner Cabrera McKinney Mann Zimmerman Dawson Lara Fletcher Page McCarthy Love Robles \
Cervantes Solis Erickson Reeves Chang Klein Salinas Fuentes Baldwin Daniel Simon Velasquez Hardy Higgins Aguirre Lin \
Cummings Chandler Sharp Barber Bowen Ochoa Dennis Robbins Liu Ramsey Francis Griffith Paul Blair Oconnor Cardenas \
Pacheco Cross Calderon Quinn Moss Swanson Chan Rivas Khan Rodgers Serrano Fitzgerald Rosales Stevenson Christensen \
Manning Gill Curry McLaughlin Harmon McGee Gross Doyle Garner Newton Burgess Reese Walton Blake Trujillo Adkins Brady \
Goodman Roman Webster Goodwin Fischer Huang Potter Delacruz Montoya Todd Wu Hines Mullins Castaneda Malone Cannon Tate \
Mack Sherman Hubbard Hodges Zhang Guerra Wolf Valencia Saunders Franco Rowe Gallagher Farmer Hammond Hampton Townsend \
Ingram Wise Gallegos Clarke Barton Schroeder Maxwell Waters Logan Camacho Strickland Norman Person Colon Parsons Frank \
Harrington";

/// What a populated data directory holds, as the measurement needs it (kept in `STATE_FILE`).
pub struct Population {
    pub tenant: String,
    pub client_id: String,
    pub client_secret: String,
    /// The user in 1,000 nested groups.
    pub member: String,
    pub users: usize,
    pub groups: usize,
    pub links: usize,
    /// Ids of users spread over the population, for point reads.
    pub sample: Vec<String>,
    /// Seconds spent on users, groups and links.
    pub user_seconds: f64,
    pub group_seconds: f64,
    pub link_seconds: f64,
    /// Index rows a user has, on average over the sample.
    pub index_rows: f64,
    /// Populated by an earlier run (the figures above are that run's).
    pub reused: bool,
}

impl Population {
    fn to_json(&self) -> Value {
        json!({
            "tenant": self.tenant, "client_id": self.client_id, "client_secret": self.client_secret,
            "member": self.member, "users": self.users, "groups": self.groups, "links": self.links,
            "sample": self.sample, "user_seconds": self.user_seconds, "group_seconds": self.group_seconds,
            "link_seconds": self.link_seconds, "index_rows": self.index_rows,
        })
    }

    fn from_json(v: &Value) -> Option<Population> {
        let text = |k: &str| v[k].as_str().map(str::to_string);
        let count = |k: &str| v[k].as_u64().map(|n| n as usize);
        Some(Population {
            tenant: text("tenant")?,
            client_id: text("client_id")?,
            client_secret: text("client_secret")?,
            member: text("member")?,
            users: count("users")?,
            groups: count("groups")?,
            links: count("links")?,
            sample: v["sample"].as_array()?.iter().filter_map(|s| s.as_str().map(str::to_string)).collect(),
            user_seconds: v["user_seconds"].as_f64()?,
            group_seconds: v["group_seconds"].as_f64()?,
            link_seconds: v["link_seconds"].as_f64()?,
            index_rows: v["index_rows"].as_f64()?,
            reused: true,
        })
    }
}

async fn commit(store: &dyn Store, tenant: TenantId, ops: Vec<WriteOp>, what: &str) {
    if let Err(e) = store.commit(tenant, OffsetDateTime::now_utc(), ops).await {
        fail(&format!("committing {what}: {e}"));
    }
}

async fn populate(ward: &Path, data: &Path, users: usize, groups: usize) -> Population {
    let init = ward_cli(ward, data, &["init", "--json"]);
    let text = |k: &str| init[k].as_str().map(str::to_string).unwrap_or_else(|| fail(&format!("`ward init --json` printed no {k}")));
    let (tenant_text, client_id, client_secret) = (text("tenant_id"), text("client_id"), text("client_secret"));
    let tenant_id: TenantId = tenant_text.parse().unwrap_or_else(|_| fail("`ward init --json` printed a bad tenant id"));
    let location = StoreLocation::Sqlite(data.join(StoreLocation::SQLITE_FILE));
    let store = ward_store::open(&location, OffsetDateTime::now_utc()).await.unwrap_or_else(|e| fail(&format!("opening the store: {e}")));
    let tenant = store.tenant(tenant_id).await.ok().flatten().unwrap_or_else(|| fail("the tenant `ward init` made is not in the store"));
    let domain = tenant.initial_domain().as_str().to_string();
    let (first, last): (Vec<&str>, Vec<&str>) = (FIRST_NAMES.split_whitespace().collect(), SURNAMES.split_whitespace().collect());

    let mut rng = SplitMix(SEED);
    // How often each name has been given: the second Maria Garcia is "Maria Garcia 2".
    let mut seen: HashMap<(usize, usize), u32> = HashMap::new();
    let sample_every = (users / 1_000).max(1);
    let (mut sample, mut index_rows) = (Vec::new(), 0);
    let mut batch = Vec::with_capacity(BATCH);
    let started = Instant::now();
    for i in 0..users {
        let (f, l) = (rng.below(first.len()), rng.below(last.len()));
        let n = seen.entry((f, l)).or_insert(0);
        *n += 1;
        let (display_name, alias) = match *n {
            1 => (format!("{} {}", first[f], last[l]), format!("{}.{}", first[f], last[l])),
            n => (format!("{} {} {n}", first[f], last[l]), format!("{}.{}{n}", first[f], last[l])),
        };
        let input = NewUser {
            user_principal_name: format!("{}@{domain}", alias.to_lowercase()),
            display_name,
            given_name: Some(first[f].into()),
            surname: Some(last[l].into()),
            department: Some(DEPARTMENTS[rng.below(DEPARTMENTS.len())].into()),
            ..Default::default()
        };
        let id = rng.id();
        let user = User::create(input, id, &tenant, OffsetDateTime::now_utc()).unwrap_or_else(|e| fail(&format!("user {i}: {e}")));
        let doc = serde_json::to_value(&user).expect("a user serializes");
        if i % sample_every == 0 {
            sample.push(id.to_string());
            index_rows += ward_core::index::entries(ObjectKind::User, &doc).len();
        }
        batch.push(WriteOp::Insert { kind: ObjectKind::User, id, unique_key: Some(user.unique_key()), doc });
        if batch.len() == BATCH || i + 1 == users {
            commit(store.as_ref(), tenant_id, std::mem::take(&mut batch), "users").await;
        }
        if (i + 1) % 100_000 == 0 {
            eprintln!("  {} users, {:.0} users/s", thousands((i + 1) as f64), (i + 1) as f64 / started.elapsed().as_secs_f64());
        }
    }
    let user_seconds = started.elapsed().as_secs_f64();

    // The membership benchmark's user and nesting, as real groups.
    let member = User::create(
        NewUser { user_principal_name: format!("nested.member@{domain}"), display_name: "Nested Member".into(), ..Default::default() },
        rng.id(),
        &tenant,
        OffsetDateTime::now_utc(),
    )
    .unwrap_or_else(|e| fail(&format!("the nested user: {e}")));
    let op = WriteOp::Insert { kind: ObjectKind::User, id: member.id, unique_key: Some(member.unique_key()), doc: json!(member) };
    commit(store.as_ref(), tenant_id, vec![op], "the nested user").await;
    let Nesting { ids, links } = nesting(&mut rng, member.id, groups);
    let started = Instant::now();
    for (chunk_at, chunk) in ids.chunks(BATCH).enumerate() {
        let mut ops = Vec::with_capacity(chunk.len());
        for (k, id) in chunk.iter().enumerate() {
            let i = chunk_at * BATCH + k;
            // Groups that are not security-enabled are Microsoft 365 groups, as in Entra.
            let unified = !security_enabled(i);
            let input = NewGroup {
                display_name: format!("Group {i}"),
                mail_nickname: format!("group{i}"),
                mail_enabled: unified,
                security_enabled: !unified,
                group_types: if unified { vec![UNIFIED.into()] } else { vec![] },
                ..Default::default()
            };
            let group = Group::create(input, *id, &tenant, OffsetDateTime::now_utc()).unwrap_or_else(|e| fail(&format!("group {i}: {e}")));
            ops.push(WriteOp::Insert { kind: ObjectKind::Group, id: *id, unique_key: None, doc: json!(group) });
        }
        commit(store.as_ref(), tenant_id, ops, "groups").await;
    }
    let group_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    for chunk in links.chunks(BATCH) {
        let ops = chunk.iter().map(|l| WriteOp::AddLink { relation: Relation::Member, link: *l }).collect();
        commit(store.as_ref(), tenant_id, ops, "member links").await;
    }
    let link_seconds = started.elapsed().as_secs_f64();
    let index_rows = index_rows as f64 / sample.len().max(1) as f64;
    Population {
        tenant: tenant_text,
        client_id,
        client_secret,
        member: member.id.to_string(),
        users,
        groups,
        links: links.len(),
        sample,
        user_seconds,
        group_seconds,
        link_seconds,
        index_rows,
        reused: false,
    }
}

/// The populated directory: the one `--data-dir` holds, or a new one.
pub async fn prepare(ward: &Path, data: &Path, users: usize, groups: usize) -> Population {
    let state = data.join(STATE_FILE);
    if let Ok(bytes) = std::fs::read(&state) {
        let v: Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let p = Population::from_json(&v).unwrap_or_else(|| fail(&format!("{} is not this benchmark's", state.display())));
        if (p.users, p.groups) != (users, groups) {
            eprintln!(
                "{} holds {} users and {} groups: measuring those",
                data.display(),
                thousands(p.users as f64),
                thousands(p.groups as f64)
            );
        }
        return p;
    }
    if data.join(StoreLocation::SQLITE_FILE).exists() {
        fail(&format!("{} holds a Ward store this benchmark did not populate: give an empty directory", data.display()));
    }
    eprintln!("populating {} users and {} groups…", thousands(users as f64), thousands(groups as f64));
    let p = populate(ward, data, users, groups).await;
    if let Err(e) = std::fs::write(&state, p.to_json().to_string()) {
        fail(&format!("writing {}: {e}", state.display()));
    }
    p
}

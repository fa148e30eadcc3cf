//! `m365-operator import`: the command line around [`plan`](super::plan), the cluster
//! checks and the two ways out (files or server-side apply).

use std::io::Read;
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use super::{Defaults, Plan, PlannedUser, cluster, output};

/// The columns, as `import --help` lists them.
const COLUMNS_HELP: &str = "\
Columns (header row; case, spaces, '-' and '_' in headers are ignored):
  required: givenName, surname, usageLocation (ISO 3166, e.g. DE), license (E3 or E5),
            approver (mail address), approvalReference,
            approvedAt (RFC 3339, e.g. 2026-12-01T09:30:00Z),
            namespace (unless --namespace)
  optional: name (derived from the UPN otherwise), tenant, displayName, department,
            jobTitle, upnLocalPart, mailNickname, welcomeMailRecipient
Rows are numbered as in a spreadsheet: the header is row 1.";

/// Arguments of `m365-operator import`.
#[derive(clap::Args, Debug, Clone)]
#[command(after_help = COLUMNS_HELP)]
pub struct ImportArgs {
    /// The CSV file (UTF-8 with a header row; columns below); `-` reads stdin.
    pub file: PathBuf,

    /// Namespace for rows whose `namespace` column is empty or missing.
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,

    /// Tenant for rows whose `tenant` column is empty or missing [default: default].
    #[arg(long)]
    pub tenant: Option<String>,

    /// Write one manifest per User to DIR/<namespace>/<name>.yaml, e.g. for a pull request.
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present = "apply",
        conflicts_with = "apply"
    )]
    pub out: Option<PathBuf>,

    /// Apply the Users to the cluster in KUBECONFIG by server-side apply.
    #[arg(long)]
    pub apply: bool,

    /// With --out: also compare with the Users and Tenants in the cluster in KUBECONFIG.
    #[arg(long)]
    pub check_cluster: bool,

    /// Import the valid rows even when others have problems (which are still reported).
    #[arg(long)]
    pub skip_invalid: bool,
}

/// Runs an import. Problems go to stderr, one per line, and what was written or applied to
/// stdout; the error is the one-line summary.
pub async fn run(args: ImportArgs) -> Result<(), String> {
    let bytes = read_input(&args.file)?;
    let defaults = Defaults {
        namespace: args.namespace.clone(),
        tenant: args.tenant.clone(),
    };
    let mut plan = super::plan(&bytes, &defaults, Timestamp::now());
    let client = if args.apply || args.check_cluster {
        let client = kube::Client::try_default()
            .await
            .map_err(|e| format!("cannot reach the Kubernetes API: {e}"))?;
        cluster::check_against_cluster(&mut plan, &client)
            .await
            .map_err(|e| format!("checking against the cluster: {e}"))?;
        if args.apply {
            cluster::dry_run(&mut plan, &client)
                .await
                .map_err(|e| format!("checking against the cluster: {e}"))?;
        }
        Some(client)
    } else {
        None
    };
    if let Some(dir) = &args.out {
        refuse_existing_files(&mut plan, dir);
    }
    let users = accepted_users(&plan, args.skip_invalid)?;
    match (&args.out, client) {
        (Some(dir), _) => write(&users, dir),
        (None, Some(client)) => apply(&users, &client).await,
        (None, None) => Err("give --out DIR or --apply".to_string()),
    }
}

fn read_input(file: &Path) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    let read = if file == Path::new("-") {
        std::io::stdin().read_to_end(&mut bytes).map(|_| ())
    } else {
        std::fs::File::open(file).and_then(|mut f| f.read_to_end(&mut bytes).map(|_| ()))
    };
    read.map_err(|e| format!("reading {}: {e}", file.display()))?;
    Ok(bytes)
}

fn refuse_existing_files(plan: &mut Plan, dir: &Path) {
    for (row, path) in output::taken(&plan.users(), dir) {
        plan.reject(
            row,
            format!(
                "{} exists already; an import does not overwrite manifests",
                path.display()
            ),
        );
    }
}

/// The Users to import, after printing every problem; an error when the problems stop the
/// import.
fn accepted_users(plan: &Plan, skip_invalid: bool) -> Result<Vec<PlannedUser>, String> {
    let problems = plan.problems();
    for problem in &problems {
        eprintln!("{problem}");
    }
    let invalid = plan.invalid_rows();
    let users = plan.users();
    if !problems.is_empty() && !skip_invalid {
        return Err(format!(
            "{invalid} of {} rows have problems; nothing was imported (--skip-invalid imports the others)",
            plan.rows
        ));
    }
    if users.is_empty() && plan.rows > 0 {
        return Err(format!("none of the {} rows can be imported", plan.rows));
    }
    if invalid > 0 {
        eprintln!("skipping {invalid} rows with problems");
    }
    Ok(users)
}

fn write(users: &[PlannedUser], dir: &Path) -> Result<(), String> {
    let written = output::write_manifests(users, dir)
        .map_err(|e| format!("writing manifests below {}: {e}", dir.display()))?;
    for path in &written {
        println!("wrote {}", path.display());
    }
    println!("{} Users written", written.len());
    Ok(())
}

async fn apply(users: &[PlannedUser], client: &kube::Client) -> Result<(), String> {
    let applied = cluster::apply(users, client)
        .await
        .map_err(|e| format!("applying: {e}"))?;
    for user in &applied.users {
        println!("applied User {user}");
    }
    for problem in &applied.problems {
        eprintln!("{problem}");
    }
    if applied.problems.is_empty() {
        println!("{} Users applied", applied.users.len());
        Ok(())
    } else {
        Err(format!(
            "{} Users applied, {} refused",
            applied.users.len(),
            applied.problems.len()
        ))
    }
}

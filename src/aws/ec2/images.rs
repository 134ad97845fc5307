//! What instances are launched from: images (found by owner, tag and name,
//! newest first; created from instances) and key pairs.

use std::path::PathBuf;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::error::SdkError;
use aws_sdk_ec2::operation::describe_images::DescribeImagesError;
use aws_sdk_ec2::primitives::Blob;
use aws_sdk_ec2::types::{Filter, ResourceType};
use rhai::{Array, Dynamic};
use serde_json::Value;

use crate::aws::ec2::call::{
    Ec2, Kind, array, describe_all, filter, not_yet_visible, outcome, planned_id, refs,
    retry_not_found, tag_search, tag_spec, tags_option,
};
use crate::aws::ec2::instances::fetch_instances;
use crate::aws::ec2::plan::{TagQuery, glob};
use crate::aws::ec2::types::{Image, Instance, KeyPair, label, now};
use crate::core::context::Context;
use crate::core::failure::Failure;
use crate::core::options::{Options, RhaiResult, runtime_error};
use crate::core::planned::{Lookup, is_planned};
use crate::core::prompt;

pub const IMAGES_OPTIONS: &[&str] = &["owners", "tags", "name"];
pub const CREATE_IMAGE_OPTIONS: &[&str] = &["name", "tags", "description", "no_reboot"];

/// Images of these owners matching `filters`, all pages, newest first.
pub async fn fetch_images(
    client: &Client,
    owners: &[String],
    ids: &[String],
    filters: Vec<Filter>,
) -> Result<Vec<Image>, SdkError<DescribeImagesError>> {
    let images: Vec<_> = describe_all!(
        client
            .describe_images()
            .set_owners((!owners.is_empty()).then(|| owners.to_vec())),
        set_image_ids(ids),
        filters
    )?;
    let mut images: Vec<Image> = images.iter().map(Image::from).collect();
    images.sort_by(|a, b| (&b.created, &b.id).cmp(&(&a.created, &a.id)));
    Ok(images)
}

/// An image search from `#{ owners, tags, name }`, and how to describe it
/// in an error.
struct Query {
    owners: Vec<String>,
    filters: Vec<Filter>,
    shown: String,
    /// The same query asked of the plan's images.
    tags: TagQuery,
    name: Option<String>,
}

impl Query {
    fn new(opts: &Options) -> RhaiResult<Self> {
        let mut owners = opts.strings("owners")?;
        if owners.is_empty() {
            // Public images number in the hundreds of thousands; a runbook
            // means its own unless it says otherwise.
            owners.push("self".into());
        }
        let (tags, mut filters) = tag_search(opts)?;
        let mut shown = vec![format!("owners {}", owners.join(", "))];
        if let Some(tags) = opts.map("tags")? {
            let pairs: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
            shown.push(format!("tags {}", pairs.join(", ")));
        }
        let name = opts.string("name")?;
        if let Some(name) = &name {
            shown.push(format!("name {name}"));
            filters.push(filter("name", [name]));
        }
        Ok(Self {
            owners,
            filters,
            shown: shown.join("; "),
            tags,
            name,
        })
    }
}

/// `found` as the plan leaves it: images the plan creates (ours, so only
/// when the query asks for our own), removes or retags.
async fn planned_images(
    ec2: &Ec2<'_>,
    call: &str,
    query: &Query,
    found: Vec<Image>,
) -> RhaiResult<Vec<Image>> {
    let ours = query.owners.iter().any(|o| o == "self");
    let client = ec2.client();
    let fetch = |ids: Vec<String>| async move { fetch_images(client, &[], &ids, Vec::new()).await };
    ec2.planned_listing(call, found, fetch, |i| {
        ours && query.tags.matches(&i.tags)
            && query
                .name
                .as_ref()
                .is_none_or(|n| i.name.as_ref().is_some_and(|name| glob(n, name)))
    })
    .await
}

pub fn images(ctx: &Context, opts: Options) -> RhaiResult<Array> {
    const CALL: &str = "ec2::images";
    let query = Query::new(&opts)?;
    let ec2 = Ec2::new(ctx)?;
    ec2.run(async {
        let found = fetch_images(ec2.client(), &query.owners, &[], query.filters.clone())
            .await
            .map_err(|e| ec2.fail(CALL, &query.shown, e))?;
        Ok(array(planned_images(&ec2, CALL, &query, found).await?))
    })
}

pub fn find_image(ctx: &Context, opts: Options) -> RhaiResult<Image> {
    const CALL: &str = "ec2::find_image";
    let mut query = Query::new(&opts)?;
    query.filters.push(filter("state", ["available"]));
    let ec2 = Ec2::new(ctx)?;
    ec2.run(async {
        let found = fetch_images(ec2.client(), &query.owners, &[], query.filters.clone())
            .await
            .map_err(|e| ec2.fail(CALL, &query.shown, e))?;
        // An image the plan creates counts as available: the real run waits for it.
        let mut found = planned_images(&ec2, CALL, &query, found).await?;
        found.sort_by(|a, b| (&b.created, &b.id).cmp(&(&a.created, &a.id)));
        found.into_iter().next().ok_or_else(|| {
            Failure::new(format!(
                "{CALL}: no available image in {} matches {}",
                ec2.region(),
                query.shown
            ))
            .hint("list candidates with ec2::images(#{ ... }); images of others need `owners`")
            .into()
        })
    })
}

pub fn create_image(ctx: &Context, instance: &Dynamic, opts: Options) -> RhaiResult<Image> {
    const CALL: &str = "ec2::create_image";
    let ids = refs(CALL, instance, Kind::Instance)?.ids;
    let [id] = ids.as_slice() else {
        return Err(runtime_error(format!("{CALL}: takes one instance")));
    };
    let name = opts.string("name")?;
    let description = opts.string("description")?;
    let no_reboot = opts.bool("no_reboot")?;
    let tags = tags_option(&opts)?;
    let ec2 = Ec2::new(ctx)?;
    ec2.run(async {
        let source = match ctx.planned.lookup::<Instance>(id) {
            Lookup::Planned(i) => vec![i],
            _ if is_planned(id) => Vec::new(),
            _ => fetch_instances(ec2.client(), ids.as_slice(), Vec::new())
                .await
                .map_err(|e| ec2.fail(CALL, id, e))?,
        };
        let source_tags = source.first().map(|i| i.tags.clone()).unwrap_or_default();
        let name = name.unwrap_or_else(|| {
            let base = source_tags
                .get("Name")
                .cloned()
                .unwrap_or_else(|| id.clone());
            // AMI names allow no colons.
            format!("{base}-{}", now().replace(':', ""))
        });
        let target = label(id, &source_tags);
        let args = serde_json::json!({ "name": name, "tags": tags });
        let out = ec2
            .mutate(
                CALL,
                &target,
                args,
                |d| {
                    ec2.client()
                        .create_image()
                        .instance_id(id)
                        .name(&name)
                        .set_description(description.clone())
                        .set_no_reboot(no_reboot)
                        .set_tag_specifications(
                            tag_spec(ResourceType::Image, &tags).map(|t| vec![t]),
                        )
                        .dry_run(d)
                        .send()
                },
                |out| {
                    let ids: Vec<String> = out.image_id().map(str::to_string).into_iter().collect();
                    outcome("created", "image", &ids)
                },
            )
            .await?;
        let Some(image_id) = out.and_then(|o| o.image_id().map(str::to_string)) else {
            let planned = Image {
                id: planned_id("ami"),
                name: Some(name),
                state: "pending".into(),
                created: Some(now()),
                tags,
            };
            ctx.planned.put(planned.clone());
            return Ok(planned);
        };
        let image_ids = [image_id.clone()];
        let found = retry_not_found(|| fetch_images(ec2.client(), &[], &image_ids, Vec::new()))
            .await
            .map_err(|e| ec2.fail(CALL, &image_id, e))?;
        let image = found.into_iter().next().unwrap_or(Image {
            id: image_id,
            name: Some(name),
            state: "pending".into(),
            created: None,
            tags,
        });
        ctx.output.info(&format!("created image {image}"));
        Ok(image)
    })
}

/// The public key itself, or the contents of the `.pub` file it names.
fn public_key_text(call: &str, key: &str) -> RhaiResult<String> {
    let trimmed = key.trim();
    if trimmed.contains(char::is_whitespace) {
        return Ok(trimmed.to_string());
    }
    let path = match trimmed.strip_prefix("~/") {
        Some(rest) => dirs::home_dir().unwrap_or_default().join(rest),
        None => PathBuf::from(trimmed),
    };
    std::fs::read_to_string(&path)
        .map(|text| text.trim().to_string())
        .map_err(|e| {
            runtime_error(format!(
                "{call}: `{key}` is neither an OpenSSH public key (\"ssh-ed25519 AAAA...\") nor a readable file: {e}"
            ))
        })
}

pub fn import_key_pair(ctx: &Context, name: &str, public_key: &str) -> RhaiResult<KeyPair> {
    const CALL: &str = "ec2::import_key_pair";
    let material = public_key_text(CALL, public_key)?;
    let ec2 = Ec2::new(ctx)?;
    ec2.run(async {
        match ec2
            .client()
            .describe_key_pairs()
            .key_names(name)
            .send()
            .await
        {
            Ok(out) => {
                if let Some(existing) = out.key_pairs().first() {
                    ctx.output.info(&format!(
                        "key pair {name} already exists: kept it (delete it first to replace it)"
                    ));
                    return Ok(KeyPair::from(existing));
                }
            }
            Err(e) if not_yet_visible(&e) => {}
            Err(e) => return Err(ec2.fail(CALL, name, e)),
        }
        let out = ec2
            .mutate(
                CALL,
                name,
                Value::Null,
                |d| {
                    ec2.client()
                        .import_key_pair()
                        .key_name(name)
                        .public_key_material(Blob::new(material.as_bytes()))
                        .dry_run(d)
                        .send()
                },
                |_| outcome("created", "key_pair", &[name.to_string()]),
            )
            .await?;
        Ok(match out {
            Some(out) => {
                ctx.output.info(&format!("imported key pair {name}"));
                KeyPair {
                    name: out.key_name().unwrap_or(name).to_string(),
                    fingerprint: out.key_fingerprint().map(str::to_string),
                    id: out.key_pair_id().map(str::to_string),
                }
            }
            None => KeyPair {
                name: name.to_string(),
                fingerprint: None,
                id: Some(planned_id("key")),
            },
        })
    })
}

pub fn deregister_image(ctx: &Context, x: &Dynamic) -> RhaiResult<()> {
    const CALL: &str = "ec2::deregister_image";
    let ids = refs(CALL, x, Kind::Image)?.ids;
    let ec2 = Ec2::new(ctx)?;
    let client = ec2.client();
    let found = ec2.existing(CALL, &ids, |real| async move {
        fetch_images(client, &[], &real, Vec::new()).await
    })?;
    let names: Vec<String> = ids
        .iter()
        .map(|id| match found.iter().find(|i| &i.id == id) {
            Some(Image {
                name: Some(name), ..
            }) => format!("{id} ({name})"),
            _ => id.clone(),
        })
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    ec2.remove_each::<Image, _, _, _>(
        CALL,
        ("deregister", "deregistered"),
        "image",
        &ids,
        &names,
        |id, d| client.deregister_image().image_id(id).dry_run(d).send(),
    )
}

pub fn delete_key_pair(ctx: &Context, name: &str) -> RhaiResult<()> {
    const CALL: &str = "ec2::delete_key_pair";
    prompt::confirm_destructive(ctx, "delete key pair", &[name.to_string()])?;
    let ec2 = Ec2::new(ctx)?;
    ec2.run(async {
        let done = ec2
            .mutate(
                CALL,
                name,
                Value::Null,
                |d| {
                    let request = ec2.client().delete_key_pair().dry_run(d);
                    // The journal records key pairs by name; ids work too.
                    if name.starts_with("key-") {
                        request.key_pair_id(name).send()
                    } else {
                        request.key_name(name).send()
                    }
                },
                |_| outcome("removed", "key_pair", &[name.to_string()]),
            )
            .await?;
        if done.is_some() {
            ctx.output.info(&format!("deleted key pair {name}"));
        }
        Ok(())
    })
}

pub fn key_pairs(ctx: &Context) -> RhaiResult<Array> {
    const CALL: &str = "ec2::key_pairs";
    let ec2 = Ec2::new(ctx)?;
    ec2.run(async {
        let out = ec2
            .client()
            .describe_key_pairs()
            .send()
            .await
            .map_err(|e| ec2.fail(CALL, "", e))?;
        let mut pairs: Vec<KeyPair> = out.key_pairs().iter().map(KeyPair::from).collect();
        pairs.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(array(pairs))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::failure::describe;

    #[test]
    fn public_keys_are_taken_as_text_or_read_from_a_file() {
        let key = "ssh-ed25519 AAAAC3Nza test@host";
        assert_eq!(public_key_text("t", &format!("  {key}\n")).unwrap(), key);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("id.pub");
        std::fs::write(&path, format!("{key}\n")).unwrap();
        assert_eq!(public_key_text("t", path.to_str().unwrap()).unwrap(), key);
        let err = public_key_text("ec2::import_key_pair", "/no/such.pub").unwrap_err();
        assert!(describe(&err).contains("neither an OpenSSH public key"));
    }
}

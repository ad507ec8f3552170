//! The AWS SQS implementation of [`MessageQueue`], the production engine.
//!
//! Everything SDK-shaped stays in this file: requests are built here, and every SDK error is
//! classified once, in [`classify_sdk_error`], into a [`QueueError`] that retry logic can act on.
//! Messages are validated before sending (see [`crate::limits`]); a batch whose messages add up to
//! more than the 1 MiB request limit is split into several SendMessageBatch calls.
//!
//! FIFO queues (names ending in `.fifo`) get the message's `deduplication_id` as
//! MessageDeduplicationId (hashed when it is not 1 to 128 printable ASCII characters) and its `repo`
//! attribute as MessageGroupId (`default` without one), so ordering holds per repository.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::config::{Credentials, Region};
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{
    MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use aws_sdk_sqs::Client;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use crate::error::QueueError;
use crate::limits::{
    check_batch_len, split_by_bytes, MessageLimits, MAX_BATCH_BYTES, STRING_DATA_TYPE,
};
use crate::message::{OutgoingMessage, QueueDepth, ReceiptHandle, ReceivedMessage, SendOutcome};
use crate::{MessageQueue, MAX_BATCH, MAX_RECEIVE_WAIT, MAX_VISIBILITY_TIMEOUT};

/// Connecting to a host that does not answer fails after this, as a transient error.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// One attempt of any call, long polls (at most 20 s) included, fails as transient after this.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

/// The attribute whose value becomes the MessageGroupId on FIFO queues.
const FIFO_GROUP_ATTRIBUTE: &str = "repo";
const FIFO_DEFAULT_GROUP: &str = "default";
const FIFO_SUFFIX: &str = ".fifo";

/// Where the SQS queue is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SqsQueueSettings {
    /// The queue's URL, or its name (resolved with GetQueueUrl when connecting).
    pub queue: String,
    /// The AWS region; `None` uses the standard chain (`AWS_REGION`, the profile), then the region in
    /// an `sqs.<region>.amazonaws.com` queue URL.
    pub region: Option<String>,
    /// The SQS endpoint, e.g. a moto or LocalStack server; `None` uses the standard chain
    /// (`AWS_ENDPOINT_URL_SQS`, `AWS_ENDPOINT_URL`), then AWS.
    pub endpoint_url: Option<String>,
}

/// Fixed credentials, for emulators in tests; production uses the standard credential chain.
#[derive(Debug, Clone)]
pub(crate) struct StaticCredentials {
    pub(crate) access_key_id: String,
    pub(crate) secret_access_key: String,
}

/// An SQS queue. Cheap to clone; clones share the HTTP client and the resolved URL.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    /// Given in the settings, or resolved from the name on first use (`GetQueueUrl`).
    queue_url: Arc<OnceCell<String>>,
    queue_name: String,
    fifo: bool,
    limits: MessageLimits,
}

impl SqsQueue {
    /// Sets up the client with the standard AWS configuration chain (environment, profile,
    /// container or instance credentials) without contacting SQS: a daemon must start while the
    /// network, the endpoint, the credentials or the queue itself are still coming up (a crash
    /// loop collects nothing). A queue given by name is resolved on first use, and again until
    /// that succeeds; [`MessageQueue::health_check`] says whether it answers. Only settings that
    /// can never work fail here: no queue, a malformed URL, no region.
    pub async fn connect(
        settings: SqsQueueSettings,
        limits: MessageLimits,
    ) -> Result<SqsQueue, QueueError> {
        Self::connect_with_credentials(settings, limits, None).await
    }

    pub(crate) async fn connect_with_credentials(
        settings: SqsQueueSettings,
        limits: MessageLimits,
        credentials: Option<StaticCredentials>,
    ) -> Result<SqsQueue, QueueError> {
        const OPERATION: &str = "connect";
        let queue_name = queue_name_of(&settings.queue);
        if queue_name.is_empty() {
            return Err(QueueError::permanent(
                &queue_name,
                OPERATION,
                "no queue configured: set a queue url or name",
            ));
        }
        limits
            .validate()
            .map_err(|message| QueueError::permanent(&queue_name, OPERATION, message))?;
        let queue_url = OnceCell::new();
        if is_url(&settings.queue) {
            url::Url::parse(&settings.queue).map_err(|error| {
                QueueError::permanent(
                    &queue_name,
                    OPERATION,
                    format!("the queue url {:?} is malformed: {error}", settings.queue),
                )
            })?;
            queue_url
                .set(settings.queue.clone())
                .expect("a new cell is empty");
        }
        let client = build_client(&settings, credentials.as_ref(), &queue_name).await?;
        tracing::info!(queue = %queue_name, "sqs queue configured");
        Ok(SqsQueue {
            client,
            fifo: queue_name.ends_with(FIFO_SUFFIX),
            queue_url: Arc::new(queue_url),
            queue_name,
            limits,
        })
    }

    /// Creates the queue unless it exists, and first its dead-letter queue `(name, max receives)`
    /// with a RedrivePolicy pointing at it; returns the queue's URL. A queue that exists is left as
    /// it is. Names ending in `.fifo` create FIFO queues (the dead-letter queue must then be FIFO
    /// too).
    ///
    /// Optional in production, where queues are normally created with infrastructure as code;
    /// used by the demo and the tests.
    pub async fn ensure_queue(
        settings: &SqsQueueSettings,
        dead_letter: Option<(String, u32)>,
    ) -> Result<String, QueueError> {
        Self::ensure_queue_with_credentials(settings, dead_letter, None).await
    }

    pub(crate) async fn ensure_queue_with_credentials(
        settings: &SqsQueueSettings,
        dead_letter: Option<(String, u32)>,
        credentials: Option<StaticCredentials>,
    ) -> Result<String, QueueError> {
        const OPERATION: &str = "ensure_queue";
        let queue_name = queue_name_of(&settings.queue);
        let client = build_client(settings, credentials.as_ref(), &queue_name).await?;
        let mut attributes = HashMap::new();
        if let Some((dead_letter_name, max_receive_count)) = dead_letter {
            let dead_letter_url =
                create_queue_if_missing(&client, &dead_letter_name, HashMap::new()).await?;
            let dead_letter_arn = client
                .get_queue_attributes()
                .queue_url(&dead_letter_url)
                .attribute_names(QueueAttributeName::QueueArn)
                .send()
                .await
                .map_err(|error| classify_sdk_error(&dead_letter_name, OPERATION, error))?
                .attributes()
                .and_then(|attributes| attributes.get(&QueueAttributeName::QueueArn).cloned())
                .ok_or_else(|| {
                    QueueError::permanent(&dead_letter_name, OPERATION, "the queue has no QueueArn")
                })?;
            let redrive_policy = serde_json::json!({
                "deadLetterTargetArn": dead_letter_arn,
                "maxReceiveCount": max_receive_count,
            });
            attributes.insert(
                QueueAttributeName::RedrivePolicy,
                redrive_policy.to_string(),
            );
        }
        create_queue_if_missing(&client, &queue_name, attributes).await
    }

    /// The queue's URL, resolving its name first if that has not succeeded yet.
    pub async fn queue_url(&self) -> Result<&str, QueueError> {
        self.url("get_queue_url").await
    }

    async fn url(&self, operation: &'static str) -> Result<&str, QueueError> {
        self.queue_url
            .get_or_try_init(|| resolve_queue_url(&self.client, &self.queue_name, operation))
            .await
            .map(String::as_str)
    }

    fn transient(&self, operation: &'static str, message: impl Into<String>) -> QueueError {
        QueueError::transient(&self.queue_name, operation, message)
    }

    /// The approximate depth of the queue at `url` (this one, or its dead-letter queue).
    async fn depth_at(
        &self,
        url: &str,
        queue_name: &str,
        operation: &'static str,
    ) -> Result<QueueDepth, QueueError> {
        let output = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(|error| classify_sdk_error(queue_name, operation, error))?;
        let count = |name: QueueAttributeName| -> Result<u64, QueueError> {
            let value = output
                .attributes()
                .and_then(|attributes| attributes.get(&name))
                .ok_or_else(|| {
                    QueueError::permanent(
                        queue_name,
                        operation,
                        format!("attribute {name} missing"),
                    )
                })?;
            value.parse().map_err(|_| {
                QueueError::permanent(
                    queue_name,
                    operation,
                    format!("attribute {name} is not a count: {value:?}"),
                )
            })
        };
        Ok(QueueDepth {
            visible: count(QueueAttributeName::ApproximateNumberOfMessages)?,
            in_flight: count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)?,
        })
    }

    fn permanent(&self, operation: &'static str, message: impl Into<String>) -> QueueError {
        QueueError::permanent(&self.queue_name, operation, message)
    }

    fn batch_entry(
        &self,
        index: usize,
        message: &OutgoingMessage,
    ) -> Result<SendMessageBatchRequestEntry, QueueError> {
        let mut attributes = HashMap::with_capacity(message.attributes.len());
        for (name, value) in &message.attributes {
            let attribute = MessageAttributeValue::builder()
                .data_type(STRING_DATA_TYPE)
                .string_value(value)
                .build()
                .map_err(|error| {
                    self.permanent("send_batch", format!("building attribute {name}: {error}"))
                })?;
            attributes.insert(name.clone(), attribute);
        }
        let mut entry = SendMessageBatchRequestEntry::builder()
            .id(index.to_string())
            .message_body(&message.body)
            .set_message_attributes(Some(attributes));
        if self.fifo {
            let group = message
                .attributes
                .get(FIFO_GROUP_ATTRIBUTE)
                .map_or(FIFO_DEFAULT_GROUP, String::as_str);
            entry = entry
                .message_group_id(fifo_token(group))
                .message_deduplication_id(fifo_deduplication_id(message));
        }
        entry.build().map_err(|error| {
            self.permanent("send_batch", format!("building entry {index}: {error}"))
        })
    }

    /// Sends one SendMessageBatch request; entry ids are indexes into `messages`.
    async fn send_group(
        &self,
        messages: &[OutgoingMessage],
        group: &[usize],
    ) -> Result<Vec<(usize, QueueError)>, QueueError> {
        const OPERATION: &str = "send_batch";
        let mut entries = Vec::with_capacity(group.len());
        for &index in group {
            entries.push(self.batch_entry(index, &messages[index])?);
        }
        let output = self
            .client
            .send_message_batch()
            .queue_url(self.url(OPERATION).await?)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|error| classify_sdk_error(&self.queue_name, OPERATION, error))?;

        let mut failed = Vec::new();
        let mut answered = Vec::with_capacity(group.len());
        for entry in output.successful() {
            answered.push(entry.id().to_owned());
        }
        for entry in output.failed() {
            answered.push(entry.id().to_owned());
            let Ok(index) = entry.id().parse::<usize>() else {
                tracing::warn!(queue = %self.queue_name, id = entry.id(), "sqs reported a failure for an unknown batch entry");
                continue;
            };
            let message = format!(
                "entry rejected: {}: {}",
                entry.code(),
                entry.message().unwrap_or("no message")
            );
            let error = if entry.sender_fault() {
                self.permanent(OPERATION, message)
            } else {
                self.transient(OPERATION, message)
            };
            failed.push((index, error));
        }
        for &index in group {
            if !answered.contains(&index.to_string()) {
                failed.push((
                    index,
                    self.transient(OPERATION, "entry missing from the batch result"),
                ));
            }
        }
        Ok(failed)
    }
}

#[async_trait]
impl MessageQueue for SqsQueue {
    fn name(&self) -> &str {
        &self.queue_name
    }

    async fn send_batch(&self, messages: &[OutgoingMessage]) -> Result<SendOutcome, QueueError> {
        check_batch_len(&self.queue_name, messages.len())?;
        let mut outcome = SendOutcome::default();
        let mut valid = Vec::with_capacity(messages.len());
        for (index, message) in messages.iter().enumerate() {
            match self.limits.check(message) {
                Ok(bytes) => valid.push((index, bytes)),
                Err(error) => outcome.failed.push((index, error)),
            }
        }
        let groups = split_by_bytes(&valid, MAX_BATCH_BYTES);
        let mut first_request_error = None;
        let mut any_request_succeeded = false;
        for group in &groups {
            match self.send_group(messages, group).await {
                Ok(failed) => {
                    any_request_succeeded = true;
                    outcome.failed.extend(failed);
                }
                Err(error) => {
                    outcome
                        .failed
                        .extend(group.iter().map(|&index| (index, error.clone())));
                    first_request_error.get_or_insert(error);
                }
            }
        }
        // When no request got through, the call failed as a whole; once one did, report per entry
        // so the caller does not resend what was delivered.
        if let Some(error) = first_request_error {
            if !any_request_succeeded {
                return Err(error);
            }
        }
        outcome.failed.sort_by_key(|(index, _)| *index);
        tracing::debug!(
            queue = %self.queue_name,
            requests = groups.len(),
            sent = messages.len() - outcome.failed.len(),
            failed = outcome.failed.len(),
            "sent a batch"
        );
        Ok(outcome)
    }

    async fn receive(
        &self,
        max_messages: u32,
        wait: Duration,
        visibility_timeout: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        const OPERATION: &str = "receive";
        let max_messages = max_messages.clamp(1, MAX_BATCH as u32);
        let output = self
            .client
            .receive_message()
            .queue_url(self.url(OPERATION).await?)
            .max_number_of_messages(i32::try_from(max_messages).unwrap_or(1))
            .wait_time_seconds(whole_seconds_up(wait.min(MAX_RECEIVE_WAIT)))
            .visibility_timeout(whole_seconds_up(
                visibility_timeout.min(MAX_VISIBILITY_TIMEOUT),
            ))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|error| classify_sdk_error(&self.queue_name, OPERATION, error))?;

        let mut received = Vec::with_capacity(output.messages().len());
        for message in output.messages() {
            let (Some(message_id), Some(receipt)) =
                (message.message_id(), message.receipt_handle())
            else {
                return Err(self.permanent(OPERATION, "a message without id or receipt handle"));
            };
            let attributes: BTreeMap<String, String> = message
                .message_attributes()
                .into_iter()
                .flatten()
                .filter_map(|(name, value)| Some((name.clone(), value.string_value()?.to_owned())))
                .collect();
            let receive_count = message
                .attributes()
                .and_then(|system| system.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .and_then(|count| count.parse().ok())
                .unwrap_or(1);
            received.push(ReceivedMessage {
                message_id: message_id.to_owned(),
                body: message.body().unwrap_or_default().to_owned(),
                attributes,
                receipt: ReceiptHandle(receipt.to_owned()),
                receive_count,
            });
        }
        tracing::debug!(queue = %self.queue_name, received = received.len(), "received messages");
        Ok(received)
    }

    async fn delete(&self, receipt: &ReceiptHandle) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(self.url("delete").await?)
            .receipt_handle(&receipt.0)
            .send()
            .await
            .map_err(|error| classify_sdk_error(&self.queue_name, "delete", error))?;
        Ok(())
    }

    async fn extend_visibility(
        &self,
        receipt: &ReceiptHandle,
        visibility_timeout: Duration,
    ) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(self.url("extend_visibility").await?)
            .receipt_handle(&receipt.0)
            .visibility_timeout(whole_seconds_up(
                visibility_timeout.min(MAX_VISIBILITY_TIMEOUT),
            ))
            .send()
            .await
            .map_err(|error| classify_sdk_error(&self.queue_name, "extend_visibility", error))?;
        Ok(())
    }

    async fn approximate_depth(&self) -> Result<QueueDepth, QueueError> {
        const OPERATION: &str = "approximate_depth";
        let url = self.url(OPERATION).await?;
        self.depth_at(url, &self.queue_name, OPERATION).await
    }

    async fn dead_letter_depth(&self) -> Result<Option<u64>, QueueError> {
        const OPERATION: &str = "dead_letter_depth";
        let output = self
            .client
            .get_queue_attributes()
            .queue_url(self.url(OPERATION).await?)
            .attribute_names(QueueAttributeName::RedrivePolicy)
            .send()
            .await
            .map_err(|error| classify_sdk_error(&self.queue_name, OPERATION, error))?;
        let Some(policy) = output
            .attributes()
            .and_then(|attributes| attributes.get(&QueueAttributeName::RedrivePolicy))
        else {
            return Ok(None);
        };
        let (account, dlq_name) = dead_letter_target(policy).ok_or_else(|| {
            self.permanent(OPERATION, format!("unreadable redrive policy {policy:?}"))
        })?;
        let dlq_url = self
            .client
            .get_queue_url()
            .queue_name(&dlq_name)
            .queue_owner_aws_account_id(account)
            .send()
            .await
            .map_err(|error| classify_sdk_error(&dlq_name, OPERATION, error))?
            .queue_url
            .ok_or_else(|| self.permanent(OPERATION, "no url for the dead-letter queue"))?;
        let depth = self.depth_at(&dlq_url, &dlq_name, OPERATION).await?;
        Ok(Some(depth.visible + depth.in_flight))
    }

    async fn health_check(&self) -> Result<(), QueueError> {
        self.client
            .get_queue_attributes()
            .queue_url(self.url("health_check").await?)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|error| classify_sdk_error(&self.queue_name, "health_check", error))?;
        Ok(())
    }
}

/// Classifies an SDK error once: no response, a timeout, a 5xx, throttling or an exhausted
/// in-flight limit may clear up (transient); a missing queue, denied access or an invalid request
/// will not (permanent). Codes are matched as strings because some (moto's
/// `InvalidParameterValue`, throttling) have no modelled error type.
fn classify_sdk_error<E>(
    queue_name: &str,
    operation: &'static str,
    error: SdkError<E, HttpResponse>,
) -> QueueError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let transient = match &error {
        SdkError::ConstructionFailure(_) => false,
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(service_error) => is_transient_service_error(
            service_error.err().code(),
            service_error.raw().status().as_u16(),
        ),
        _ => true,
    };
    // A service error's code and message say it all; the SDK's display would add the raw response.
    let message = match &error {
        SdkError::ServiceError(service_error) => format!(
            "{} (http {}): {}",
            service_error.err().code().unwrap_or("unknown error"),
            service_error.raw().status().as_u16(),
            service_error.err().message().unwrap_or("no message")
        ),
        _ => error_chain(&error),
    };
    if transient {
        QueueError::transient(queue_name, operation, message)
    } else {
        QueueError::permanent(queue_name, operation, message)
    }
}

fn is_transient_service_error(code: Option<&str>, status: u16) -> bool {
    const TRANSIENT_CODES: &[&str] = &[
        "RequestThrottled",
        "ThrottlingException",
        "Throttling",
        "KmsThrottled",
        "KMS.ThrottlingException",
        "OverLimit",
        "QueueDeletedRecently",
        "ServiceUnavailable",
        "InternalError",
        "InternalFailure",
        "RequestTimeout",
    ];
    code.map(normalized_code)
        .is_some_and(|code| TRANSIENT_CODES.contains(&code))
        || status == 429
        || status >= 500
}

fn is_queue_missing<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> bool {
    error
        .as_service_error()
        .and_then(ProvideErrorMetadata::code)
        .is_some_and(|code| {
            matches!(
                normalized_code(code),
                "NonExistentQueue" | "QueueDoesNotExist"
            )
        })
}

/// The error and its causes as `a: b: c` (the SDK's `DisplayErrorContext` appends a debug dump).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !chain.ends_with(&text) {
            chain.push_str(": ");
            chain.push_str(&text);
        }
        source = cause.source();
    }
    chain
}

/// SQS reports some codes in their AWS-query form (`AWS.SimpleQueueService.NonExistentQueue`)
/// and others bare (`RequestThrottled`); compare them without the prefix.
fn normalized_code(code: &str) -> &str {
    code.strip_prefix("AWS.SimpleQueueService.").unwrap_or(code)
}

async fn build_client(
    settings: &SqsQueueSettings,
    credentials: Option<&StaticCredentials>,
    queue_name: &str,
) -> Result<Client, QueueError> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(
        TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .operation_attempt_timeout(ATTEMPT_TIMEOUT)
            .build(),
    );
    if let Some(region) = &settings.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(endpoint_url) = &settings.endpoint_url {
        loader = loader.endpoint_url(endpoint_url);
    }
    if let Some(credentials) = credentials {
        loader = loader.credentials_provider(Credentials::new(
            &credentials.access_key_id,
            &credentials.secret_access_key,
            None,
            None,
            "gha-ingest-static",
        ));
    }
    let sdk_config = loader.load().await;
    let mut config = aws_sdk_sqs::config::Builder::from(&sdk_config);
    if sdk_config.region().is_none() {
        let Some(region) = region_of_queue_url(&settings.queue) else {
            return Err(QueueError::permanent(
                queue_name,
                "connect",
                "no aws region configured: set the region, AWS_REGION or a profile",
            ));
        };
        config = config.region(Region::new(region));
    }
    Ok(Client::from_conf(config.build()))
}

async fn resolve_queue_url(
    client: &Client,
    queue_name: &str,
    operation: &'static str,
) -> Result<String, QueueError> {
    let output = client
        .get_queue_url()
        .queue_name(queue_name)
        .send()
        .await
        .map_err(|error| classify_sdk_error(queue_name, operation, error))?;
    output
        .queue_url()
        .map(str::to_owned)
        .ok_or_else(|| QueueError::permanent(queue_name, operation, "GetQueueUrl returned no url"))
}

async fn create_queue_if_missing(
    client: &Client,
    queue_name: &str,
    mut attributes: HashMap<QueueAttributeName, String>,
) -> Result<String, QueueError> {
    const OPERATION: &str = "ensure_queue";
    match client.get_queue_url().queue_name(queue_name).send().await {
        Ok(output) => {
            if let Some(url) = output.queue_url() {
                tracing::info!(queue = %queue_name, "queue exists, left as it is");
                return Ok(url.to_owned());
            }
        }
        Err(error) if is_queue_missing(&error) => {}
        Err(error) => return Err(classify_sdk_error(queue_name, OPERATION, error)),
    }
    if queue_name.ends_with(FIFO_SUFFIX) {
        attributes.insert(QueueAttributeName::FifoQueue, "true".to_owned());
    }
    let output = client
        .create_queue()
        .queue_name(queue_name)
        .set_attributes(Some(attributes))
        .send()
        .await
        .map_err(|error| classify_sdk_error(queue_name, OPERATION, error))?;
    tracing::info!(queue = %queue_name, "created queue");
    output
        .queue_url()
        .map(str::to_owned)
        .ok_or_else(|| QueueError::permanent(queue_name, OPERATION, "CreateQueue returned no url"))
}

fn is_url(queue: &str) -> bool {
    queue.starts_with("https://") || queue.starts_with("http://")
}

/// The queue's name: the last path segment of a URL, or the setting itself.
fn queue_name_of(queue: &str) -> String {
    if is_url(queue) {
        queue
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or(queue)
            .to_owned()
    } else {
        queue.to_owned()
    }
}

/// The region in an AWS queue URL such as `https://sqs.eu-west-1.amazonaws.com/123/name`.
fn region_of_queue_url(queue: &str) -> Option<String> {
    let host = queue
        .strip_prefix("https://")
        .or_else(|| queue.strip_prefix("http://"))?
        .split('/')
        .next()?;
    let region = host.strip_prefix("sqs.")?.split('.').next()?;
    let looks_like_region = region.contains('-') && host.contains(".amazonaws.com");
    looks_like_region.then(|| region.to_owned())
}

/// SQS takes whole seconds; a partial second rounds up so a short wait or lease is never zero.
fn whole_seconds_up(duration: Duration) -> i32 {
    let seconds = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    i32::try_from(seconds).unwrap_or(i32::MAX)
}

/// FIFO ids are 1 to 128 printable ASCII characters; anything else is replaced by its SHA-256.
fn fifo_token(value: &str) -> String {
    let valid =
        (1..=128).contains(&value.len()) && value.bytes().all(|byte| byte.is_ascii_graphic());
    if valid {
        value.to_owned()
    } else {
        hex::encode(Sha256::digest(value.as_bytes()))
    }
}

/// The deduplication id, or the body's hash when the message has none (content-based dedup).
fn fifo_deduplication_id(message: &OutgoingMessage) -> String {
    if message.deduplication_id.is_empty() {
        hex::encode(Sha256::digest(message.body.as_bytes()))
    } else {
        fifo_token(&message.deduplication_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_errors_classify_by_code_and_status() {
        assert!(is_transient_service_error(Some("RequestThrottled"), 400));
        assert!(is_transient_service_error(Some("ThrottlingException"), 400));
        assert!(is_transient_service_error(None, 503));
        assert!(is_transient_service_error(None, 429));
        assert!(is_transient_service_error(
            Some("AWS.SimpleQueueService.RequestThrottled"),
            400
        ));
        assert!(!is_transient_service_error(
            Some("AWS.SimpleQueueService.NonExistentQueue"),
            400
        ));
        assert!(!is_transient_service_error(
            Some("InvalidParameterValue"),
            400
        ));
        assert!(!is_transient_service_error(Some("AccessDenied"), 403));
    }

    #[test]
    fn queue_names_and_regions_come_from_urls() {
        let url = "https://sqs.eu-west-1.amazonaws.com/123456789012/gha-events";
        assert_eq!(queue_name_of(url), "gha-events");
        assert_eq!(queue_name_of("gha-events"), "gha-events");
        assert_eq!(region_of_queue_url(url).as_deref(), Some("eu-west-1"));
        assert_eq!(region_of_queue_url("http://127.0.0.1:5000/123/q"), None);
        assert_eq!(region_of_queue_url("gha-events"), None);
    }

    #[test]
    fn durations_round_up_to_whole_seconds() {
        assert_eq!(whole_seconds_up(Duration::ZERO), 0);
        assert_eq!(whole_seconds_up(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds_up(Duration::from_millis(1_500)), 2);
        assert_eq!(whole_seconds_up(Duration::from_secs(20)), 20);
    }

    #[test]
    fn fifo_ids_are_valid_or_hashed() {
        assert_eq!(fifo_token("octo/repo"), "octo/repo");
        assert_eq!(fifo_token(&"x".repeat(129)).len(), 64);
        assert_eq!(fifo_token("with space").len(), 64);
        assert_eq!(fifo_token(""), hex::encode(Sha256::digest(b"")));
    }
}

/// The account and queue name of a redrive policy's `deadLetterTargetArn`
/// (`arn:aws:sqs:REGION:ACCOUNT:NAME`).
fn dead_letter_target(policy: &str) -> Option<(String, String)> {
    let policy: serde_json::Value = serde_json::from_str(policy).ok()?;
    let arn = policy.get("deadLetterTargetArn")?.as_str()?;
    let mut fields = arn.split(':');
    let (_, _, _, _, account, name) = (
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
        fields.next()?,
    );
    (!account.is_empty() && !name.is_empty()).then(|| (account.to_owned(), name.to_owned()))
}

#[cfg(test)]
mod redrive_tests {
    use super::dead_letter_target;

    #[test]
    fn the_dead_letter_queue_comes_from_the_redrive_policy_arn() {
        let policy = r#"{"deadLetterTargetArn":"arn:aws:sqs:eu-west-1:123456789012:gha-ingest-logs-dlq","maxReceiveCount":6}"#;
        assert_eq!(
            dead_letter_target(policy),
            Some(("123456789012".to_owned(), "gha-ingest-logs-dlq".to_owned()))
        );
        assert_eq!(dead_letter_target(r#"{"maxReceiveCount":6}"#), None);
        assert_eq!(dead_letter_target("not json"), None);
    }
}

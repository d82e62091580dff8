//! Owns start-up wiring: turning a validated [`Config`] into the long-lived parts
//! (embedder, chunker, store) that the CLI, the service and the tests share.

use std::sync::Arc;

use reagent_ingest::chunk::ChunkError;
use reagent_ingest::embed::EmbedError;
use reagent_ingest::store::StoreError;
use reagent_ingest::{Chunker, EdgeStore, Embedder, OnnxEmbedder};
use thiserror::Error;

use crate::config::Config;
use crate::retrieval::Retriever;

#[derive(Debug, Error)]
pub enum StartError {
    #[error(transparent)]
    Embedder(#[from] EmbedError),
    #[error(transparent)]
    Chunker(#[from] ChunkError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Services {
    pub config: Config,
    pub embedder: Arc<OnnxEmbedder>,
    pub chunker: Chunker,
    pub store: Arc<EdgeStore>,
}

impl Services {
    /// Load the model and open the store (exclusively).
    pub fn start(config: Config) -> Result<Self, StartError> {
        let embedder = Arc::new(OnnxEmbedder::load(&config.embedding)?);
        let chunker = Chunker::new(embedder.tokenizer().clone(), &config.chunking)?;
        let store = Arc::new(EdgeStore::open(&config.store, embedder.dimension(), embedder.model_id())?);
        Ok(Self { config, embedder, chunker, store })
    }

    pub fn retriever(&self) -> Retriever {
        Retriever::new(self.embedder.clone(), self.store.clone(), self.config.retrieval.clone())
    }
}

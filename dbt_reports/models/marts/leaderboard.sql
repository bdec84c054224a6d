-- The primary metric of every (model, dataset, profile) result, computed from the spec that evals.partitions
-- records as current, with how it was evaluated: the profile, the benchmark variant, its few-shot count and chat
-- template use, and the published setting it reproduces. Results of other profiles or variants are other rows,
-- never averaged in or ranked together; older spec hashes stay in evals.metrics, but they are different
-- evaluations (another prompt, sample count or scorer). The 95% interval is the one scoring.stats computed with the
-- result (Wilson for 0/1 scores, so it never collapses at 0% or 100%), not a second formula.

with

metrics as (

    select * from {{ ref('stg_metrics') }}

),

partitions as (

    select * from {{ ref('stg_partitions') }}

),

models as (

    select * from {{ ref('stg_models') }}

),

current_primary_metrics as (

    select
        metrics.*,
        partitions.profile_label,
        partitions.variant,
        partitions.num_fewshot,
        partitions.is_chat_template,
        partitions.reference,
        partitions.is_fixture,
        partitions.dataset_version,
        partitions.weights_revision,
        partitions.run_id,
        partitions.judge,
        partitions.materialized_at

    from metrics
    inner join partitions
        on metrics.model = partitions.model
        and metrics.dataset = partitions.dataset
        and metrics.profile = partitions.profile
        and metrics.spec_hash = partitions.spec_hash
    where metrics.is_primary
        and metrics.item_group is null

),

final as (

    select
        -- ids
        current_primary_metrics.model,
        models.display_name as model_display_name,
        current_primary_metrics.dataset,
        current_primary_metrics.profile,
        current_primary_metrics.metric,
        current_primary_metrics.spec_hash,

        -- how it was evaluated
        current_primary_metrics.profile_label,
        current_primary_metrics.variant,
        current_primary_metrics.num_fewshot,
        current_primary_metrics.is_chat_template,
        current_primary_metrics.reference,
        current_primary_metrics.is_fixture,

        -- score and its 95% interval (computed with the result by scoring.stats.interval_95)
        current_primary_metrics.value,
        current_primary_metrics.stderr,
        current_primary_metrics.ci_low,
        current_primary_metrics.ci_high,
        current_primary_metrics.n,
        current_primary_metrics.n_clusters,
        current_primary_metrics.value_min,
        current_primary_metrics.value_max,
        current_primary_metrics.is_higher_better,

        -- model
        models.params_b,
        models.active_params_b,

        -- provenance
        current_primary_metrics.dataset_version,
        current_primary_metrics.weights_revision,
        current_primary_metrics.run_id,
        current_primary_metrics.judge,
        current_primary_metrics.materialized_at

    from current_primary_metrics
    -- left join: a result whose model left the registry fails the relationships test instead of vanishing
    left join models
        on current_primary_metrics.model = models.model

)

select * from final

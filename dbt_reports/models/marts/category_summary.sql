-- Per category, member model and profile: how many of the category's datasets have a leaderboard result under
-- that profile, and the mean of those results after mapping each primary metric onto 0..1 by its declared range.
-- Results of different profiles are never averaged together; a member without any result has one row whose
-- profile is null.

with

model_categories as (

    select * from {{ ref('stg_model_categories') }}

),

dataset_categories as (

    select * from {{ ref('stg_dataset_categories') }}

),

leaderboard as (

    select * from {{ ref('leaderboard') }}

),

model_profiles as (

    select distinct
        model,
        profile

    from leaderboard

),

category_pairs as (

    select
        model_categories.category,
        model_categories.model,
        dataset_categories.dataset,
        dataset_categories.is_primary

    from model_categories
    inner join dataset_categories
        on model_categories.category = dataset_categories.category
    -- coverage counts what can be evaluated: unsupported datasets are listed in the registry but have no benchmark
    where dataset_categories.is_supported

),

pair_results as (

    select
        category_pairs.category,
        category_pairs.model,
        model_profiles.profile,
        category_pairs.dataset,
        category_pairs.is_primary,
        leaderboard.value,
        -- (v - min) / (max - min): 0..1 metrics unchanged, MT-Bench's 1..10 becomes (v - 1) / 9. Unbounded and
        -- lower-is-better metrics have no such mapping and stay out of the mean.
        case
            when leaderboard.is_higher_better and leaderboard.value_max > leaderboard.value_min
                then (leaderboard.value - leaderboard.value_min) / (leaderboard.value_max - leaderboard.value_min)
        end as normalized_value

    from category_pairs
    left join model_profiles
        on category_pairs.model = model_profiles.model
    left join leaderboard
        on category_pairs.model = leaderboard.model
        and category_pairs.dataset = leaderboard.dataset
        and model_profiles.profile = leaderboard.profile

),

final as (

    select
        category,
        model,
        profile,
        count(*) as datasets_in_category,
        count(value) as datasets_evaluated,
        count(value) / count(*) as coverage,
        count(*) filter (where is_primary) as primary_datasets_in_category,
        count(value) filter (where is_primary) as primary_datasets_evaluated,
        avg(normalized_value) as mean_normalized_score,
        count(normalized_value) as datasets_in_mean

    from pair_results
    group by category, model, profile

)

select * from final
